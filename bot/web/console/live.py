"""One watcher of the database for every open console page.

The console's event streams need to know when a chat or a request changed.
Any process may write (the server, ``privacybot chat``, the command line), so
the database is the truth: one task per server compares its activity mark
once a second, only while at least one stream listens, and wakes every
stream when the mark moves. Open tabs then cost a wake-up each, not a query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.core import Core

log = logging.getLogger(__name__)


class ActivityFeed:
    def __init__(self, core: Core, every: float = 1.0) -> None:
        self.core = core
        self.every = every
        self.version = 0
        self._changed = asyncio.Event()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    def join(self) -> None:
        self._listeners += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name="console-activity")

    def leave(self) -> None:
        self._listeners -= 1

    async def wait(self, version: int, timeout: float) -> int:
        """The version once it differs from ``version``, or after ``timeout``."""
        if self.version == version:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        return self.version

    async def _mark(self) -> str:
        async with self.core.services.store.transaction(readonly=True) as tx:
            return await tx.activity_mark()

    async def _watch(self) -> None:
        try:
            last = await self._mark()
            while self._listeners > 0 and not self.core.stopping.is_set():
                await asyncio.sleep(self.every)
                mark = await self._mark()
                if mark != last:
                    last = mark
                    self.version += 1
                    woken, self._changed = self._changed, asyncio.Event()
                    woken.set()
        except Exception as exc:  # streams keep their keep-alives; a new one restarts it
            log.error("console activity watcher stopped: %s", type(exc).__name__)
