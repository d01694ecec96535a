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
        outcomes: list[bool] = []
        steps = 0
        # Cancelled after 0, 1, 2... turns of the loop: before BEGIN, during
        # it, during the body, during COMMIT, until one got through whole (how
        # many turns that takes depends on the machine's load).
        while not any(outcomes) and steps < 5000:
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
            outcomes.append(found is not None)
            steps += 1
        assert not outcomes[0] and outcomes[-1]  # cancelled before, and after, its commit
    finally:
        await store.close()
