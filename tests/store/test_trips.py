"""How a transaction's statements reach aiosqlite's thread (``Trips``): few
trips, the statements still in the order the code issued them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bot.store.sqlite.trips as trips_module
from bot.conversation.engine import Engine
from bot.domain.models import Channel, InboundMessage
from bot.store.sqlite.connection import SQLiteStore
from tests.conftest import FakeClock

pytestmark = pytest.mark.fast


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The trips made to the database thread, by kind."""
    made: list[str] = []
    original = trips_module.on_thread

    def counted(db: Any, fn: Callable[..., Any]) -> Any:
        made.append(fn.__qualname__.split(".")[1])
        return original(db, fn)

    monkeypatch.setattr(trips_module, "on_thread", counted)
    yield made


async def test_a_text_message_takes_two_trips_and_a_share_of_one_commit(
    engine: Engine, trips: list[str]
) -> None:
    """Its reads in one trip, its writes in another, the COMMIT after (shared
    with the messages that queue up meanwhile): the floor of a message's
    cost on one core is these trips, so a change that adds one shows here."""

    def message(n: int, text: str) -> InboundMessage:
        return InboundMessage(Channel.WHATSAPP, "+6281234567890", f"SM{n}", text=text)

    await engine.handle(message(0, "halo"), answered=True)  # a new customer: more
    for n, text in enumerate(("1", "batal", "halo"), start=1):
        trips.clear()
        replies = await engine.handle(message(n, text), answered=True)
        assert replies
        assert trips == ["many", "_one", "commit"], text


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
