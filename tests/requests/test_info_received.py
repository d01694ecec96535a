"""A customer's answer to staff's "ask" is visible: the request moves from
``needs_info`` to ``info_received``, every answer is recorded, staff act on it
from there, on every channel; and an agent finds the answers to their own asks."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.conversation.engine import Engine
from bot.domain.models import Channel
from bot.requests import actions
from bot.requests.lifecycle import MOVES, IllegalMove, deadline
from bot.requests.lookup import answered_asks, find_request, list_requests
from bot.settings import Settings
from bot.store.schema.sqlite_history import migrations as _migrations
from bot.store.schema.sqlite_history import statements as _statements
from bot.store.sqlite.connection import SQLiteStore
from flows.types import OPEN_STATUSES, RequestStatus
from tests.conftest import CODE, PDF, Chat, file_of
from tests.raw import raw
from tests.requests.test_lifecycle import REFERENCE

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

ANI, BUDI = "ani@jovapos.test", "budi@jovapos.test"


async def _filed(chat: Chat, email: str = "siti@example.com") -> str:
    """An access request with ID proof (verifying), filed on ``chat``'s channel."""
    await chat.script("2", "Siti Aminah", email, CODE, "lewati")
    await chat.say("", file_of(PDF))
    await chat.say("1")
    found = REFERENCE.search(chat.text)
    assert found, chat.text
    return found.group(0)


async def _answered(engine: Engine, chat: Chat, asker: str = f"staff:{ANI}") -> str:
    ref = await _filed(chat)
    await actions.ask(engine.services, ref, asker, "Mohon kirim nomor HP lama Anda")
    await chat.say("Nomor lama saya 0812 1111 2222")
    assert chat.keys == ["info.received"]
    return ref


def _info_events(record) -> list[tuple[str, dict]]:
    return [(e.actor, e.data) for e in record.events if e.kind == "info_provided"]


async def test_the_first_answer_moves_the_request_and_the_next_ones_are_recorded(
    engine: Engine, chat: Chat
) -> None:
    ref = await _answered(engine, chat)
    record = await find_request(engine.services.store, ref)
    assert record.status is RequestStatus.INFO_RECEIVED
    await chat.say("Maaf, yang benar 0812 1111 3333")
    await chat.say("", file_of(PDF))
    assert chat.keys == ["info.received"]
    record = await find_request(engine.services.store, ref)
    assert record.status is RequestStatus.INFO_RECEIVED  # stays, each answer recorded
    assert _info_events(record) == [
        (
            "customer",
            {"from": "needs_info", "to": "info_received", "text": "Nomor lama saya 0812 1111 2222"},
        ),
        ("customer", {"from": "info_received", "text": "Maaf, yang benar 0812 1111 3333"}),
        ("customer", {"from": "info_received", "file": True}),
    ]
    assert len(record.attachments) == 2  # the ID proof and the file sent as an answer
    # The customer's status check words the new status.
    await chat.say("menu")
    await chat.say(ref)
    assert engine.services.catalogue.text("id", "request_status.info_received") in chat.text


@pytest.mark.parametrize(
    ("act", "status"),
    [
        ("verify", RequestStatus.IN_PROGRESS),
        ("ask", RequestStatus.NEEDS_INFO),
        ("reject", RequestStatus.REJECTED),
        ("delay", RequestStatus.INFO_RECEIVED),
        ("cancel", RequestStatus.CANCELLED),
    ],
)
async def test_staff_act_on_an_answered_request(
    engine: Engine, chat: Chat, act: str, status: RequestStatus
) -> None:
    ref = await _answered(engine, chat)
    services, staff = engine.services, f"staff:{ANI}"
    calls = {
        "verify": lambda: actions.verify(services, ref, staff),
        "ask": lambda: actions.ask(services, ref, staff, "Dan email lama Anda?"),
        "reject": lambda: actions.reject(services, ref, staff, "Bukan pemilik akun"),
        "delay": lambda: actions.delay(services, ref, staff, "Arsip lama", date(2027, 3, 1)),
        "cancel": lambda: actions.cancel(services, ref, staff),
    }
    result = await calls[act]()
    assert (result.previous, result.request.status) == (RequestStatus.INFO_RECEIVED, status)
    assert RequestStatus.INFO_RECEIVED in MOVES[act][0]
    event = result.request.events[-1]
    assert (event.actor, event.kind, event.data["from"]) == (staff, act, "info_received")


async def test_an_answered_request_is_not_completed_before_it_is_verified(
    engine: Engine, chat: Chat
) -> None:
    ref = await _answered(engine, chat)
    with pytest.raises(IllegalMove) as refused:
        await actions.complete(engine.services, ref, "staff:ani")
    assert refused.value.params["status"] == "info_received"


async def test_asked_again_the_next_answer_moves_it_again(engine: Engine, chat: Chat) -> None:
    ref = await _answered(engine, chat)
    await actions.ask(engine.services, ref, f"staff:{BUDI}", "Dan nama toko Anda?")
    assert (await find_request(engine.services.store, ref)).status is RequestStatus.NEEDS_INFO
    await chat.say("Toko Siti Jaya")
    record = await find_request(engine.services.store, ref)
    assert record.status is RequestStatus.INFO_RECEIVED
    assert _info_events(record)[-1] == (
        "customer",
        {"from": "needs_info", "to": "info_received", "text": "Toko Siti Jaya"},
    )


@pytest.mark.parametrize("close", ["verify", "reject", "cancel"])
async def test_an_answer_after_staff_moved_on_is_read_as_usual(
    engine: Engine, chat: Chat, close: str
) -> None:
    ref = await _answered(engine, chat)
    services = engine.services
    if close == "reject":
        await actions.reject(services, ref, "staff:ani", "Bukan pemilik akun")
    else:
        await getattr(actions, close)(services, ref, "staff:ani")
    before = await find_request(services.store, ref)
    await chat.say("1")  # the menu's first option, not an answer any more
    assert chat.keys[-1] == "prompt.consequences"
    after = await find_request(services.store, ref)
    assert (after.status, _info_events(after)) == (before.status, _info_events(before))


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        (Channel.TERMINAL, "demo"),
        (Channel.SMS, "+6281234500001"),
        (Channel.WHATSAPP, "+6281234500002"),
        (Channel.TELEGRAM, "123456789"),
    ],
)
async def test_every_channel_answers_alike(engine: Engine, channel: Channel, address: str) -> None:
    chat = Chat(engine, address=address, channel=channel)
    ref = await _answered(engine, chat)
    record = await find_request(engine.services.store, ref)
    assert record.status is RequestStatus.INFO_RECEIVED
    assert _info_events(record)[0][1]["to"] == "info_received"
    # A file is fetched from the channel only when it is wanted: it is now.
    assert await engine.expects_file(channel, address)
    await actions.verify(engine.services, ref, "staff:ani")
    assert not await engine.expects_file(channel, address)


async def test_it_is_open_its_deadline_runs_and_listings_find_it(
    engine: Engine, chat: Chat
) -> None:
    ref = await _answered(engine, chat)
    record = await find_request(engine.services.store, ref)
    assert record.status in OPEN_STATUSES
    soon = deadline(record, date(2027, 1, 7))  # due 12 January 2027
    late = deadline(record, date(2027, 1, 14))
    assert (soon.due_soon, late.overdue) == (True, True)
    store = engine.services.store
    assert [r.reference for r in await list_requests(store, RequestStatus.INFO_RECEIVED)] == [ref]
    assert [r.reference for r in await list_requests(store, OPEN_STATUSES)] == [ref]
    async with store.transaction(readonly=True) as tx:  # a second access request is refused
        assert [r.reference for r in await tx.open_requests_for_email("SITI@example.com")] == [ref]
    # Not yet verified: the ID proof's retention has not started.
    db = raw(store)
    async with db.execute("SELECT retention_from FROM requests WHERE reference = ?", (ref,)) as c:
        assert (await c.fetchone())[0] is None


async def test_answered_asks_are_those_of_the_staff_member_who_asked_last(
    engine: Engine,
) -> None:
    """``answered_asks``: the inbox of the agent who asked lists the requests
    answered since (info_received) whose latest ask was theirs."""
    store, services = engine.services.store, engine.services
    first = Chat(engine, address="siti")
    by_ani = await _answered(engine, first)
    second = Chat(engine, address="rina")
    await second.script("2", "Rina", "rina@example.com", CODE, "lewati")
    await second.say("", file_of(PDF))
    await second.say("1")
    by_budi = REFERENCE.search(second.text).group(0)  # type: ignore[union-attr]
    await actions.ask(services, by_budi, "staff:ani@jovapos.test", "KTP?")
    await second.say("Ini KTP saya")
    await actions.ask(services, by_budi, f"staff:{BUDI}", "KTP lagi?")  # asked again: budi's
    await second.say("Ini KTP saya yang jelas")
    third = Chat(engine, address="wati")
    await third.script("2", "Wati", "wati@example.com", CODE, "lewati")
    await third.say("", file_of(PDF))
    await third.say("1")
    unanswered = REFERENCE.search(third.text).group(0)  # type: ignore[union-attr]
    await actions.ask(services, unanswered, f"staff:{ANI}", "KTP?")  # not answered yet

    assert [r.reference for r in await answered_asks(store, ANI)] == [by_ani]
    assert [r.reference for r in await answered_asks(store, "ANI@jovapos.test")] == [by_ani]
    assert [r.reference for r in await answered_asks(store, BUDI)] == [by_budi]
    assert await answered_asks(store, "rudi@jovapos.test") == []
    await actions.verify(services, by_ani, f"staff:{BUDI}")  # acted on: no longer waiting
    assert await answered_asks(store, ANI) == []


async def test_the_command_line_lists_filters_and_acts_on_it(
    engine: Engine, chat: Chat, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = await _answered(engine, chat)
    data = ["--data-dir", str(settings.data_dir)]

    async def cli(*args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, [*data, *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await cli("requests", "list", "--status", "info_received", "--json")
    assert code == 0
    assert [(r["reference"], r["status"]) for r in json.loads(out)] == [(ref, "info_received")]
    code, out, _ = await cli("requests", "list")
    assert ref in out and "info_received" in out
    code, out, _ = await cli("requests", "show", ref, "--json")
    assert [e["kind"] for e in json.loads(out)["events"]][-1] == "info_provided"
    code, out, err = await cli("requests", "complete", ref, "--by", "ani")
    assert code == 1 and "info_received" in err
    code, out, _ = await cli("requests", "ask", ref, "--by", "ani", "--message", "Lagi?")
    assert (code, out.split(":")[1].strip().split(" (")[0]) == (0, "info_received -> needs_info")


@pytest.mark.sqlite_only  # SQLite's migrations before Alembic
async def test_an_older_database_takes_the_new_status(tmp_path: Path) -> None:
    """Migration 0015 widens the table's status check in place: a database made
    before it keeps its requests and takes ``info_received``; a status nobody
    knows is still refused."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.create_function("casefold", 1, lambda v: v.casefold() if isinstance(v, str) else v)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for version, script in _migrations():
        if version >= 15:
            continue
        for statement in _statements(script):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))", (version,))
    db.execute(
        "INSERT INTO conversations (channel, address, state, slots, language, created_at, "
        "updated_at) VALUES ('terminal', 'x', 'menu', '{}', 'id', '2026', '2026')"
    )
    db.execute(
        "INSERT INTO requests (reference, type, status, channel, customer_address, "
        "conversation_id, language, full_name, email, created_at, updated_at, due_date) "
        "VALUES ('ACC-AAAAAA', 'access', 'needs_info', 'terminal', 'x', 1, 'id', 'Siti', "
        "'s@example.com', '2026-11-26T03:00:00+00:00', '2026-11-26T03:00:00+00:00', '2027-01-12')"
    )
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE requests SET status = 'info_received'")
    other = sqlite3.connect(path, isolation_level=None)  # another process, open meanwhile
    assert other.execute("SELECT status FROM requests").fetchone() == ("needs_info",)
    db.close()

    store = SQLiteStore(path)
    await store.open()
    try:
        assert await store.schema_version() >= 15
        async with store.transaction() as tx:
            await tx.set_request_status("ACC-AAAAAA", RequestStatus.INFO_RECEIVED, _now())
        async with store.transaction(readonly=True) as tx:
            record = await tx.get_request("ACC-AAAAAA")
        assert record is not None and record.status is RequestStatus.INFO_RECEIVED
        other.execute("UPDATE requests SET status = 'needs_info'")  # it reads the new schema
        other.execute("UPDATE requests SET status = 'info_received'")
        with pytest.raises(sqlite3.IntegrityError):
            other.execute("UPDATE requests SET status = 'bogus'")
        assert other.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        other.close()
        await store.close()


def _now():
    from datetime import UTC, datetime

    return datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


async def test_an_answer_waiting_for_staff_or_after_a_hand_back_reaches_the_asked_request(
    engine: Engine, chat: Chat
) -> None:
    """Staff asked; the customer asked for a person before answering. Their
    words while they wait reach the request; and once staff hand the chat
    back, the next words are read as the answer, not as a menu choice."""
    from bot.core import Core
    from bot.staff import chats as staff_chats

    store = engine.services.store
    ref = await _filed(chat)
    await actions.ask(engine.services, ref, f"staff:{ANI}", "Mohon kirim nomor HP lama Anda")
    await chat.say("staf")
    await chat.say("Nomor lama saya 0812 1111 2222")
    assert chat.keys == ["staff.info_noted"]
    record = await find_request(store, ref)
    assert record.status is RequestStatus.INFO_RECEIVED
    await actions.ask(engine.services, ref, f"staff:{ANI}", "Dan email lama Anda?")
    core = Core(engine.services.settings)
    core.attach(engine)
    async with store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation(Channel.TERMINAL, chat.address)
    assert conversation is not None and conversation.state == "staff"
    await staff_chats.claim(engine.services, core.channels, conversation.id, ANI)
    await staff_chats.release(engine.services, core.channels, conversation.id, ANI)
    await chat.say("2")  # an answer that would be a menu choice at the menu
    assert chat.keys == ["info.received"]
    record = await find_request(store, ref)
    assert record.status is RequestStatus.INFO_RECEIVED
    assert _info_events(record)[-1][1]["text"] == "2"
