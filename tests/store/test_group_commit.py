"""Group commit (``bot.store.sqlite.batches``): units of work that queue up
share one transaction and one COMMIT, yet each is undone alone when it
fails, and none returns before the COMMIT holding its work."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.models import Channel
from bot.store import StoreError
from bot.store.sqlite.connection import SQLiteStore
from bot.store.sqlite.trips import on_thread
from tests.conftest import FakeClock

pytestmark = [pytest.mark.fast, pytest.mark.sqlite_only]  # SQLite's group commit


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    commits: list[str] = []
    await store.db.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )
    store.commits = commits  # type: ignore[attr-defined]
    yield store
    await store.close()


def committed(path: Path, address: str) -> bool:
    """Seen from another connection: on disk, not only in our transaction."""
    with contextlib.closing(sqlite3.connect(path)) as other:
        row = other.execute(
            "SELECT count(*) FROM conversations WHERE address = ?", (address,)
        ).fetchone()
    return bool(row[0])


async def write(store: SQLiteStore, clock: FakeClock, address: str, fail: bool = False) -> None:
    async with store.transaction() as tx:
        await tx.create_conversation(Channel.TERMINAL, address, "menu", "id", clock())
        if fail:
            raise ValueError("the unit fails after writing")


async def test_units_that_queue_up_share_commits_and_each_returns_after_its_commit(
    store: SQLiteStore, clock: FakeClock
) -> None:
    seen_on_disk: dict[str, bool] = {}

    async def unit(n: int) -> None:
        await write(store, clock, f"c{n}")
        seen_on_disk[f"c{n}"] = committed(store.path, f"c{n}")  # right after its exit

    await asyncio.gather(*(unit(n) for n in range(60)))
    assert all(seen_on_disk.values()) and len(seen_on_disk) == 60
    assert len(store.commits) < 60  # type: ignore[attr-defined]


async def test_a_failing_unit_is_undone_alone_and_its_neighbours_are_kept(
    store: SQLiteStore, clock: FakeClock
) -> None:
    results = await asyncio.gather(
        *(write(store, clock, f"n{n}", fail=n % 3 == 1) for n in range(9)),
        return_exceptions=True,
    )
    for n, result in enumerate(results):
        if n % 3 == 1:
            assert isinstance(result, ValueError)
            assert not committed(store.path, f"n{n}")
        else:
            assert result is None
            assert committed(store.path, f"n{n}")
    assert len(store.commits) < 6  # type: ignore[attr-defined]  # they did share


async def test_a_failed_shared_commit_fails_every_unit_of_the_group(
    store: SQLiteStore, clock: FakeClock
) -> None:
    async with store.transaction() as tx:  # a foreign key checked only at COMMIT
        await tx.db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await tx.db.execute(
            "CREATE TABLE child (parent INTEGER REFERENCES parent (id) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )
    gate = asyncio.Event()

    async def first() -> None:
        async with store.transaction() as tx:
            await tx.create_conversation(Channel.TERMINAL, "first", "menu", "id", clock())
            await gate.wait()  # the others queue up behind it

    async def breaks_the_commit() -> None:
        async with store.transaction() as tx:
            await tx.db.execute("INSERT INTO child VALUES (42)")

    tasks = [asyncio.create_task(first())]
    await asyncio.sleep(0.05)
    tasks += [asyncio.create_task(breaks_the_commit())]
    tasks += [asyncio.create_task(write(store, clock, f"later{n}")) for n in range(3)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, StoreError) for r in results), results
    for address in ("first", "later0", "later1", "later2"):
        assert not committed(store.path, address)
    await write(store, clock, "after")  # the connection goes on
    assert committed(store.path, "after")


async def test_a_waiter_cancelled_as_the_group_is_handed_to_it_commits_the_group(
    store: SQLiteStore, clock: FakeClock
) -> None:
    gate = asyncio.Event()

    async def holder() -> None:
        async with store.transaction() as tx:
            await tx.create_conversation(Channel.TERMINAL, "holder", "menu", "id", clock())
            await gate.wait()

    held = asyncio.create_task(holder())
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(write(store, clock, "waiter"))
    await asyncio.sleep(0.05)
    gate.set()
    # The holder sees the waiter and leaves the group open for it; the waiter
    # is cancelled before it runs. The group must still be committed.
    commits = store._commits
    for _ in range(1000):
        await asyncio.sleep(0)
        if not commits._waiters:  # its turn came: it has not run yet
            waiter.cancel()
            break
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(held, 5)
    assert committed(store.path, "holder")
    assert not store.db.in_transaction
    await write(store, clock, "next")
    assert committed(store.path, "next")


async def test_readers_join_a_group_and_a_writer_never_continues_a_readers_group(
    store: SQLiteStore, clock: FakeClock
) -> None:
    await write(store, clock, "known")

    async def read() -> bool:
        async with store.transaction(readonly=True) as tx:
            return await tx.get_conversation(Channel.TERMINAL, "known") is not None

    results = await asyncio.gather(
        read(), write(store, clock, "w1"), read(), write(store, clock, "w2"), read()
    )
    assert results[0] and results[2] and results[4]
    assert committed(store.path, "w1") and committed(store.path, "w2")


async def test_a_group_is_bounded(tmp_path: Path, clock: FakeClock) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    store._commits.max_units = 4
    commits: list[str] = []
    await store.db.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )
    try:
        await asyncio.gather(*(write(store, clock, f"b{n}") for n in range(20)))
        assert len(commits) >= 5
    finally:
        await store.close()


async def test_work_runs_on_aiosqlites_own_thread(store: SQLiteStore) -> None:
    """The one private part of aiosqlite used (``Connection._execute``)."""
    here = threading.get_ident()
    there = await on_thread(store.db, lambda conn: (threading.get_ident(), conn))
    assert there[0] != here
    assert isinstance(there[1], sqlite3.Connection)


async def test_a_deferred_write_that_fails_fails_its_own_unit_not_the_next(
    store: SQLiteStore, clock: FakeClock
) -> None:
    gate = asyncio.Event()

    async def first() -> None:
        async with store.transaction() as tx:
            await tx.create_conversation(Channel.TERMINAL, "kept", "menu", "id", clock())
            await gate.wait()

    async def deferred_twice() -> None:
        async with store.transaction() as tx:
            conversation = await tx.create_conversation(
                Channel.TERMINAL, "dup", "menu", "id", clock()
            )
            for _ in range(2):  # the same message id twice: the second INSERT fails
                await tx.record_inbound(
                    conversation.id, Channel.TERMINAL, "m1", "hi", False, 0, "menu", "menu", clock()
                )

    tasks = [asyncio.create_task(first())]
    await asyncio.sleep(0.05)
    tasks += [asyncio.create_task(deferred_twice())]
    tasks += [asyncio.create_task(write(store, clock, "after"))]
    await asyncio.sleep(0.05)
    gate.set()
    kept, failed, after = await asyncio.gather(*tasks, return_exceptions=True)
    assert kept is None and after is None
    assert isinstance(failed, sqlite3.IntegrityError)
    assert committed(store.path, "kept") and committed(store.path, "after")
    assert not committed(store.path, "dup")


async def test_a_unit_cancelled_while_it_waits_for_the_commit_leaves_the_others_alone(
    store: SQLiteStore, clock: FakeClock
) -> None:
    gate = asyncio.Event()

    async def second() -> None:
        async with store.transaction() as tx:
            await tx.create_conversation(Channel.TERMINAL, "second", "menu", "id", clock())
            await gate.wait()  # the first unit waits for the group's commit meanwhile

    first = asyncio.create_task(write(store, clock, "first"))
    later = asyncio.create_task(second())
    await asyncio.sleep(0.05)
    # The first unit ended while the second was waiting: the group is open
    # and the first waits for its commit. Cancelling that wait...
    assert not first.done()
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    gate.set()
    await asyncio.wait_for(later, 5)  # ...must not cancel the second's
    assert committed(store.path, "first") and committed(store.path, "second")
