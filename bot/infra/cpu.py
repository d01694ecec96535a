"""CPU-heavy steps of a request (password hashing, image re-encoding, zip
building) run in worker threads, a few at a time.

On the event loop they would stall every other request of the process:
forty parallel logins once held ``/healthz`` and the webhooks for seconds.
argon2, Pillow and zlib release the GIL while they work, so a thread keeps
the loop free; the slots keep a burst from taking every core. Waiting for a
slot is unbounded by default (a customer's photo must be handled), while a
caller facing strangers (the login form) gives a bound on the queue and turns
a refusal into "try again in a moment".
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import ParamSpec, TypeVar

CPU_SLOTS = 2  # the small machines this runs on have two cores

P = ParamSpec("P")
T = TypeVar("T")


class Busy(Exception):
    """More work is already waiting for a slot than the caller accepts."""


class _Slots:
    def __init__(self) -> None:
        self.free = asyncio.Semaphore(CPU_SLOTS)
        self.waiting = 0


# One set of slots per event loop: asyncio primitives belong to one loop, and
# tests (or a command next to the server) run several loops in a process.
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots] = weakref.WeakKeyDictionary()


async def off_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args)`` in a worker thread once a slot is free."""
    return await _run(None, fn, *args, **kwargs)


async def off_loop_or_busy(queue: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Like ``off_loop``, but raise ``Busy`` at once when ``queue`` calls already
    wait for a slot, so a flood is refused instead of queued without end."""
    return await _run(queue, fn, *args, **kwargs)


async def _run(queue: int | None, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = _Slots()
    if queue is not None and slots.free.locked() and slots.waiting >= queue:
        raise Busy()
    slots.waiting += 1
    try:
        await slots.free.acquire()
    finally:
        slots.waiting -= 1
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    finally:
        slots.free.release()
