"""The running core shared by the web app and the channel adapters.

Adapters are built (and their routes declared) before the store is open:
the services and the engine are attached in the server's lifespan.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from datetime import timedelta

from bot.conversation.engine import Engine
from bot.delivery.channels import Channels
from bot.services import Services
from bot.settings import Settings


class Core:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.channels = Channels()
        self._engine: Engine | None = None
        # Set when the server begins to stop: long-lived responses (the
        # console's event streams) end so the shutdown is not held up.
        self.stopping = asyncio.Event()
        # This process among the instances serving one database (leases).
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the core is not started")
        return self._engine

    @property
    def services(self) -> Services:
        return self.engine.services

    def attach(self, engine: Engine | None) -> None:
        self._engine = engine
        self.channels.attach(engine.services if engine else None)

    async def hold(self, lease: str, seconds: float) -> bool:
        """Whether this instance holds ``lease`` for the next ``seconds``
        (``Services.hold_lease``)."""
        return await self.services.hold_lease(lease, self.instance, timedelta(seconds=seconds))

    async def release(self, lease: str) -> None:
        """Give ``lease`` up at once if this instance holds it (a clean stop),
        so another instance need not wait for it to expire."""
        await self.services.hold_lease(lease, self.instance, timedelta(0))
