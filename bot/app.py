"""Assembles the core from settings: store, file storage, catalogue, dialogue.

The dialogue's state machine is built here once per process and shared by
every conversation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

from bot.blobs import FileBlobStore
from bot.catalogue import Catalogue, load_vocabulary
from bot.engine import Clock, Engine, utc_now
from bot.settings import Settings
from bot.store import Store, open_store
from flows.dialogue import Dialogue


@lru_cache(maxsize=1)
def shared_dialogue() -> Dialogue:
    return Dialogue(load_vocabulary())


@asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Store]:
    """The opened store (migrated), closed on exit."""
    store = open_store(settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def open_engine(settings: Settings, clock: Clock = utc_now) -> AsyncIterator[Engine]:
    blobs = FileBlobStore(settings.blob_dir)
    blobs.open()
    async with open_core(settings) as store:
        yield Engine(
            store=store,
            blobs=blobs,
            settings=settings,
            catalogue=Catalogue.load(settings.timezone),
            dialogue=shared_dialogue(),
            clock=clock,
        )
