"""One watcher of the database for every open console page.

The console's event streams need to know when a chat or a request changed.
Any process may write (the server, another instance, ``privacybot chat``, the
command line), so the database is the truth: one task per server follows
the store's activity (SQLite: its activity mark compared once a second;
PostgreSQL: LISTEN/NOTIFY, told at each commit), only while at least one
stream listens, and wakes every stream. Open tabs then cost a wake-up each,
not a query.
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

    async def _watch(self) -> None:
        changes = self.core.services.store.activity(self.every)
        try:
            async for changed in changes:
                if self._listeners <= 0 or self.core.stopping.is_set():
                    break
                if not changed:
                    continue
                self.version += 1
                woken, self._changed = self._changed, asyncio.Event()
                woken.set()
        except Exception as exc:  # streams keep their keep-alives; a new one restarts it
            log.error("console activity watcher stopped: %s", type(exc).__name__)
        finally:
            await changes.aclose()  # type: ignore[attr-defined]
