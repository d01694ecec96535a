"""Assembles the core from settings: store, file storage, catalogue, dialogue.

The dialogue's state machine is built here once per process and shared by
every conversation.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

from bot.conversation.engine import Clock, Engine, utc_now
from bot.infra.blobs import FileBlobStore
from bot.infra.catalogue import Catalogue, load_vocabulary
from bot.infra.crypto import Keyring, load_master_key
from bot.infra.directory import open_directory
from bot.infra.mail import open_mailer
from bot.settings import Settings
from bot.store import Store, open_store
from flows.dialogue import Dialogue

log = logging.getLogger(__name__)


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
    keyring = Keyring(load_master_key(settings.secret_key, settings.data_dir))
    blobs = FileBlobStore(settings.blob_dir, keyring.file_key)
    blobs.open()
    async with open_core(settings) as store:
        directory = open_directory(settings)
        engine = Engine(
            store=store,
            blobs=blobs,
            settings=settings,
            catalogue=Catalogue.load(settings.timezone),
            dialogue=shared_dialogue(),
            keyring=keyring,
            directory=directory,
            mailer=open_mailer(settings),
            clock=clock,
        )
        try:
            yield engine
        finally:
            await engine.flush_mail()
            await directory.close()
