"""How a transaction's statements reach aiosqlite's thread (``Trips``): few
trips, the statements still in the order the code issued them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bot.store.sqlite.trips as trips_module
from bot.conversation.engine import Engine
from bot.domain.models import Channel, InboundMessage
from bot.store.sqlite.connection import SQLiteStore
from tests.conftest import FakeClock

pytestmark = [pytest.mark.fast, pytest.mark.sqlite_only]  # SQLite's own trips


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The trips made to the database thread, by kind."""
    made: list[str] = []
    original = trips_module.on_thread

    def counted(db: Any, fn: Callable[..., Any]) -> Any:
        parts = fn.__qualname__.split(".")
        made.append(parts[1] if len(parts) > 1 else parts[0])
        return original(db, fn)

    monkeypatch.setattr(trips_module, "on_thread", counted)
    yield made


async def test_a_text_message_takes_one_trip_and_a_share_of_one_commit(
    engine: Engine, trips: list[str]
) -> None:
    """Its whole unit of work on the database thread in one trip
    (``Transaction.run``), the COMMIT after (shared with the messages that
    queue up meanwhile): the floor of a message's cost on one core is these
    trips, so a change that adds one (or makes it fall back to the event
    loop) shows here."""

    def message(n: int, text: str) -> InboundMessage:
        return InboundMessage(Channel.WHATSAPP, "+6281234567890", f"SM{n}", text=text)

    await engine.handle(message(0, "halo"), answered=True)  # a new customer: more
    for n, text in enumerate(("1", "batal", "halo"), start=1):
        trips.clear()
        replies = await engine.handle(message(n, text), answered=True)
        assert replies
        assert trips == ["run_here", "commit"], text


async def test_statements_go_in_order_with_begin_and_deferred_writes_in_the_next_trip(
    tmp_path: Path, clock: FakeClock, trips: list[str]
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    seen: list[str] = []
    await store.db.set_trace_callback(seen.append)
    try:
        trips.clear()
        async with store.transaction() as tx:
            conversation = await tx.create_conversation(
                Channel.TERMINAL, "a", "menu", "id", clock()
            )
            conversation.state = "deletion:reason"
            await tx.save_conversation(conversation)  # deferred
            inbound = await tx.record_inbound(  # deferred too: its number comes later
                conversation.id, Channel.TERMINAL, "m1", "hi", False, 0, "menu", "menu", clock()
            )
            ids = await tx.record_outbound(
                conversation.id, inbound, "id", "menu", [("k", "text", ())], clock()
            )
        assert trips == ["_one", "_one", "commit"]
        statements = [" ".join(s.split()[:2]) for s in seen]
        assert statements == [
            "BEGIN IMMEDIATE",
            "SAVEPOINT unit",
            "INSERT INTO",  # the conversation, RETURNING it
            "UPDATE conversations",
            "INSERT INTO",  # the message
            "INSERT INTO",  # its reply, with the message's number
            "RELEASE unit",
            "COMMIT",
        ], seen
        async with store.transaction(readonly=True) as tx:
            found = await tx.get_conversation(Channel.TERMINAL, "a")
            seen_id = await tx.find_inbound(Channel.TERMINAL, "m1")
            replies = await tx.replies_to(seen_id or 0)
        assert found is not None and found.state == "deletion:reason"
        assert seen_id == inbound.value  # type: ignore[attr-defined]
        assert [r.id for r in replies] == ids
    finally:
        await store.close()


async def test_a_transaction_that_runs_nothing_makes_no_trip(
    tmp_path: Path, trips: list[str]
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    try:
        trips.clear()
        async with store.transaction():
            pass
        async with store.transaction(readonly=True):
            pass
        assert trips == []
        assert not store.db.in_transaction
    finally:
        await store.close()


async def test_a_body_that_needs_the_event_loop_is_undone_and_run_there_once(
    tmp_path: Path, clock: FakeClock, trips: list[str]
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    runs: list[str] = []
    try:

        async def body(tx: Any) -> int:
            runs.append("ran")
            await tx.create_conversation(Channel.TERMINAL, "loop", "menu", "id", clock())
            await asyncio.sleep(0)  # needs the event loop: not on the database thread
            return 7

        trips.clear()
        async with store.transaction() as tx:
            assert await tx.run(body) == 7
        assert runs == ["ran", "ran"]  # tried on the thread, then on the loop
        assert trips[0] == "run_here"
        async with store.transaction(readonly=True) as tx:
            assert await tx.get_conversation(Channel.TERMINAL, "loop") is not None
        with sqlite3.connect(tmp_path / "db.sqlite3") as other:
            (count,) = other.execute(
                "SELECT count(*) FROM conversations WHERE address = 'loop'"
            ).fetchone()
        assert count == 1  # the try on the thread left nothing behind

        async def fails(tx: Any) -> None:
            runs.append("fails")
            await tx.create_conversation(Channel.TERMINAL, "fails", "menu", "id", clock())
            raise LookupError("the body's own error")

        runs.clear()
        with pytest.raises(LookupError):
            async with store.transaction() as tx:
                await tx.run(fails)
        assert runs == ["fails", "fails"]  # the loop's run has the last word
        async with store.transaction(readonly=True) as tx:
            assert await tx.get_conversation(Channel.TERMINAL, "fails") is None
    finally:
        await store.close()
