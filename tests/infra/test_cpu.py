"""CPU-heavy steps run beside the event loop, a few at a time: the server
keeps answering while a zip is built or passwords are hashed."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable

import pytest

from bot.conversation.engine import Engine
from bot.infra import cpu
from bot.requests import actions
from bot.requests.exports import ExportFile, complete_access
from tests.conftest import CODE, Chat, FakeClock


async def _longest_stall(work: Callable[[], Awaitable[object]]) -> float:
    """The longest the event loop went without running a 5 ms ticker while
    ``work`` ran."""
    longest = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    try:
        await work()
    finally:
        done.set()
        await ticking
    return longest


async def test_building_a_data_copy_does_not_stall_the_loop(
    engine: Engine, chat: Chat, clock: FakeClock
) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1")
    ref = re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
    await actions.ask(engine.services, ref, "staff:ani", "KTP?")
    await actions.verify(engine.services, ref, "staff:ani")
    export = ExportFile("transaksi.bin", os.urandom(24 * 2**20))  # deflate works hard on it
    started = time.perf_counter()
    stall = await _longest_stall(
        lambda: complete_access(engine.services, ref, "staff:ani", [export])
    )
    took = time.perf_counter() - started
    assert stall < 0.2 and stall < took / 2, (stall, took)


async def test_at_most_the_slots_run_at_once_and_a_full_queue_is_refused() -> None:
    running, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def job() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(5)
        with lock:
            running -= 1

    waiting = [asyncio.create_task(cpu.off_loop(job)) for _ in range(cpu.CPU_SLOTS + 3)]
    await asyncio.sleep(0.1)
    assert most == cpu.CPU_SLOTS  # the rest wait for a slot
    with pytest.raises(cpu.Busy):  # three already wait: a caller accepting two is refused
        await cpu.off_loop_or_busy(2, job)
    release.set()
    await asyncio.gather(*waiting)
    assert most == cpu.CPU_SLOTS and running == 0
    assert await cpu.off_loop_or_busy(2, sum, [1, 2]) == 3  # free again: taken at once
