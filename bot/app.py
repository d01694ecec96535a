"""Assembles the core from settings: store, file storage, catalogue, dialogue.

The dialogue's state machine is built here once per process and shared by
every conversation.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

from bot.conversation.engine import Engine
from bot.infra.blobs import FileBlobStore
from bot.infra.catalogue import Catalogue, load_vocabulary
from bot.infra.clock import Clock, utc_now
from bot.infra.crypto import Keyring, load_master_key
from bot.infra.directory import open_directory
from bot.infra.mail import open_mailer
from bot.services import Services
from bot.settings import Settings
from bot.store import Store, StoreError, open_store
from flows.dialogue import Dialogue

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def shared_dialogue() -> Dialogue:
    return Dialogue(load_vocabulary())


@asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Store]:
    """The opened store (migrated), closed on exit."""
    if settings.data_dir.exists() and not settings.data_dir.is_dir():
        # Said whichever the database (PostgreSQL's is not in it): files and keys are.
        raise StoreError(f"the data folder {settings.data_dir} is a file, not a folder")
    store = open_store(settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def open_services(settings: Settings, clock: Clock = utc_now) -> AsyncIterator[Services]:
    """Every shared service, opened (the store migrated) and closed on exit."""
    keyring = Keyring(load_master_key(settings.secret_key, settings.data_dir))
    blobs = FileBlobStore(settings.blob_dir, keyring.file_key)
    blobs.open()
    async with open_core(settings) as store:
        directory = open_directory(settings)
        try:
            yield Services(
                settings=settings,
                store=store,
                clock=clock,
                catalogue=Catalogue.load(settings.timezone),
                keyring=keyring,
                blobs=blobs,
                directory=directory,
                mailer=open_mailer(settings),
            )
        finally:
            await directory.close()


@asynccontextmanager
async def open_engine(settings: Settings, clock: Clock = utc_now) -> AsyncIterator[Engine]:
    """The conversation engine over freshly opened services; on exit the mail
    it started sending is given its chance to go first."""
    async with open_services(settings, clock) as services:
        engine = Engine(services, shared_dialogue())
        try:
            yield engine
        finally:
            await engine.flush_mail()
