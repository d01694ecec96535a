"""The shared services, built once in ``bot/app.py`` and handed to every use case.

Use cases take this bundle instead of reaching into the conversation engine
for its store or clock: the engine handles messages, and the rest of the
product depends on the services it actually uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.infra.blobs import BlobStore
from bot.infra.catalogue import Catalogue
from bot.infra.clock import Clock
from bot.infra.crypto import Keyring
from bot.infra.directory import AccountDirectory
from bot.infra.mail import Mailer
from bot.settings import Settings
from bot.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    catalogue: Catalogue
    keyring: Keyring
    blobs: BlobStore
    directory: AccountDirectory
    mailer: Mailer

    async def hold_lease(self, lease: str, holder: str, span: timedelta) -> bool:
        """Whether ``holder`` holds ``lease`` for the next ``span`` (taken, or
        renewed when it held it already), among the instances serving one
        database; False while another one holds it. A zero ``span`` gives a
        held lease up at once."""
        now = self.clock()
        async with self.store.transaction() as tx:
            return await tx.take_lease(lease, holder, now, now + span)
