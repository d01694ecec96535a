"""A task cancelled at any point of a transaction (a worker stopped, a
shutdown) leaves the shared connection usable: no transaction left open
behind the code's back, nothing half-written."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from bot.domain.models import Channel
from bot.store.sqlite.connection import SQLiteStore
from tests.conftest import FakeClock

pytestmark = pytest.mark.fast


async def test_a_transaction_cancelled_anywhere_leaves_the_connection_usable(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    try:
        written = 0
        for steps in range(40):  # cancelled after 0, 1, 2... turns of the loop
            address = f"cancelled-{steps}"

            async def write(address: str = address) -> None:
                async with store.transaction() as tx:
                    await tx.create_conversation(Channel.TERMINAL, address, "menu", "id", clock())
                    await tx.find_inbound(Channel.TERMINAL, address)

            task = asyncio.create_task(write())
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert not store.db.in_transaction, steps
            async with store.transaction(readonly=True) as tx:  # BEGIN works again
                found = await tx.get_conversation(Channel.TERMINAL, address)
            if found is not None:
                written += 1
        assert 0 < written < 40  # cancelled before and after its commit, both seen
    finally:
        await store.close()
