"""Request lifecycle: legal moves only, every action recorded, customer cancel,
one open request per type and email, and deadlines under both profiles."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.conversation.engine import Engine
from bot.domain.business_days import business_days_between, due_for
from bot.domain.errors import Refused
from bot.requests import actions
from bot.requests.exports import ExportFile
from bot.requests.lifecycle import DateOutOfRange, IllegalMove, deadline, due_date_window
from bot.requests.lookup import RequestNotFound, find_request, list_requests
from flows.types import RequestStatus
from tests.conftest import CODE, PDF, Chat, FakeClock, file_of

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

REFERENCE = re.compile(r"\b(DEL|ACC|COR|RES)-[0-9A-HJKMNP-TV-Z]{6}\b")


async def _filed(chat: Chat, email: str = "siti@example.com", proof: bool = True) -> str:
    await chat.script("2", "Siti Aminah", email, CODE, "lewati")
    if proof:
        await chat.say("", file_of(PDF))
    else:
        await chat.say("nanti")
    await chat.say("1")
    match = REFERENCE.search("\n".join(m.text for m in chat.last))
    assert match
    return match.group(0)


async def test_legal_moves_and_their_events(engine: Engine, chat: Chat, clock) -> None:
    ref = await _filed(chat)
    store = engine.services.store

    services, staff = engine.services, "staff:ani"

    with pytest.raises(IllegalMove) as early:
        await actions.complete(services, ref, staff)
    assert (early.value.key, early.value.params) == (
        "not_possible",
        {"action": "complete", "reference": ref, "status": "verifying", "allowed": "in_progress"},
    )
    asked = await actions.ask(services, ref, staff, " Mohon kirim foto KTP yang lebih jelas ")
    assert (asked.previous, asked.request.status) == (
        RequestStatus.VERIFYING,
        RequestStatus.NEEDS_INFO,
    )
    await actions.verify(services, ref, staff)
    await actions.delay(services, ref, staff, "Data di sistem kasir lama", "2027-02-01")
    with pytest.raises(IllegalMove, match="needs_export"):  # access ends with the data
        await actions.complete(services, ref, staff)
    done = await actions.complete(services, ref, staff, files=[ExportFile("pos.csv", b"x")])
    assert done.request.status is RequestStatus.COMPLETED
    assert done.request.due_date == date(2027, 2, 1)
    with pytest.raises(IllegalMove, match="not_possible"):
        await actions.cancel(services, ref, staff)
    record = await find_request(store, ref)
    assert [(e.actor, e.kind) for e in record.events] == [
        ("customer", "filed"),
        ("staff:ani", "ask"),
        ("staff:ani", "verify"),
        ("staff:ani", "delay"),
        ("staff:ani", "complete"),
    ]
    ask, _, delay, _ = record.events[1:]
    assert ask.data == {
        "from": "verifying",
        "to": "needs_info",
        "message": "Mohon kirim foto KTP yang lebih jelas",
    }
    assert delay.data["reason"] == "Data di sistem kasir lama"
    assert delay.data["previous_due_date"] == "2027-01-12"


async def test_actions_need_their_reasons(engine: Engine, chat: Chat, clock) -> None:
    ref = await _filed(chat)
    services, staff = engine.services, "staff:ani"
    refusals = [
        (actions.reject(services, ref, staff, None), "reason_missing"),
        (actions.reject(services, ref, staff, "  "), "reason_missing"),
        (actions.ask(services, ref, staff, ""), "message_missing"),
        (actions.delay(services, ref, staff, "x", None), "until_missing"),
        (actions.delay(services, ref, staff, "x", " "), "until_missing"),
        (actions.delay(services, ref, staff, "", "2027-02-01"), "reason_missing"),
        (actions.delay(services, ref, staff, "x", "2027-02-30"), "bad_date"),
        (actions.delay(services, ref, staff, "x", date(2026, 12, 1)), "date_not_later"),
        (actions.verify(services, "DEL-ZZZZZZ", staff), "no_request"),
        (actions.verify(services, "hello", staff), "bad_reference"),
    ]
    for attempt, key in refusals:
        with pytest.raises(Refused) as refused:
            await attempt
        assert refused.value.key == key
    with pytest.raises(RequestNotFound):  # the old names still catch
        await actions.cancel(services, "DEL-ZZZZZZ", staff)
    record = await find_request(engine.services.store, ref)
    assert (record.status, [e.kind for e in record.events]) == (RequestStatus.VERIFYING, ["filed"])
    await actions.reject(services, ref, staff, "Identitas tidak cocok")
    assert (await find_request(engine.services.store, ref)).status is RequestStatus.REJECTED


async def test_customer_cancels_their_own_request_after_confirming(
    engine: Engine, chat: Chat
) -> None:
    ref = await _filed(chat)
    await chat.say(f"batalkan {ref.lower()}")
    assert chat.keys == ["cancel_request.confirm"]
    await chat.say("2")
    assert chat.keys == ["cancel_request.kept"]
    assert (await find_request(engine.services.store, ref)).status is RequestStatus.VERIFYING
    other = Chat(engine, address="someone-else")
    await other.say(f"batalkan {ref}")
    unknown = Chat(engine, address="another")
    await unknown.say("batalkan DEL-ZZZZZZ")
    assert other.keys == unknown.keys == ["cancel_request.not_possible"]
    assert other.text.replace(ref, "X") == unknown.text.replace("DEL-ZZZZZZ", "X")
    await chat.script(f"cancel {ref}", "ya")
    assert chat.keys == ["cancel_request.done"]
    record = await find_request(engine.services.store, ref)
    assert record.status is RequestStatus.CANCELLED
    assert (record.events[-1].actor, record.events[-1].kind) == ("customer", "cancel")
    await chat.say(f"batalkan {ref}")  # already cancelled
    assert chat.keys == ["cancel_request.not_possible"]


async def test_one_open_request_per_type_and_email(engine: Engine, clock: FakeClock) -> None:
    first = Chat(engine, address="wa-1")
    ref = await _filed(first, proof=False)
    second = Chat(engine, address="tg-2")  # the same person on another channel
    clock.advance(seconds=61)
    await second.script("2", "Siti Aminah", "SITI@example.com", CODE)
    assert second.keys == ["code.verified", "duplicate.open", "menu.prompt"]
    assert ref in second.text
    assert len(await list_requests(engine.services.store)) == 1
    # Another type is fine.
    await second.script("4", "Siti Aminah", "siti@example.com")
    assert second.keys == ["prompt.email_code"]


def test_business_days_between_and_deadlines() -> None:
    assert business_days_between(date(2026, 11, 26), date(2026, 11, 26)) == 0
    assert business_days_between(date(2026, 11, 27), date(2026, 11, 30)) == 1  # weekend
    assert business_days_between(date(2026, 11, 30), date(2026, 11, 27)) == -1
    # Idul Fitri 2027 (10-11 March) and Nyepi (8 March) are not business days.
    assert business_days_between(date(2027, 3, 5), date(2027, 3, 12)) == 2


def test_deadline_profiles_across_holidays() -> None:
    before_lebaran = datetime(2027, 3, 5, 3, 0, tzinfo=UTC)  # Friday 10:00 WIB
    # policy: 30 business days for every type. Hand count: 9 Mar (1; 8 Nyepi,
    # 10-11 Idul Fitri off), 12 (2), 15-19 (7), 22-25 (11; 26 Good Friday off),
    # 29 Mar-2 Apr (16), 5-9 (21), 12-16 (26), 19-22 April (30).
    for kind in ("deletion", "access", "correction", "restriction"):
        assert due_for(kind, before_lebaran, "policy", 30, "Asia/Jakarta") == date(2027, 4, 22)
    # uu-pdp: 3 x 24 hours for access, correction, restriction (calendar hours);
    # deletion keeps 30 business days.
    assert due_for("access", before_lebaran, "uu-pdp", 30, "Asia/Jakarta") == date(2027, 3, 8)
    assert due_for("deletion", before_lebaran, "uu-pdp", 30, "Asia/Jakarta") == date(2027, 4, 22)
    year_end = datetime(2026, 12, 23, 9, 0, tzinfo=UTC)
    assert due_for("access", year_end, "policy", 3, "Asia/Jakarta") == date(2026, 12, 29)


async def test_uu_pdp_profile_gives_access_three_days(tmp_path, clock: FakeClock) -> None:
    from bot.app import open_engine
    from bot.settings import load_settings
    from tests.conftest import mailbox_of

    settings = load_settings(environ={}, data_dir=str(tmp_path / "d"), sla_profile="uu-pdp")
    async with open_engine(settings, clock=clock) as engine:
        mailbox_of(engine)
        chat = Chat(engine, address="pdp")
        ref = await _filed(chat, proof=False)
        record = await find_request(engine.services.store, ref)
        assert record.due_date == date(2026, 11, 29)  # Thursday 10:00 WIB + 72 hours
        assert "29 November 2026" in chat.text


async def test_due_soon_and_overdue(engine: Engine, chat: Chat) -> None:
    ref = await _filed(chat)
    record = await find_request(engine.services.store, ref)  # due 12 January 2027
    assert deadline(record, date(2027, 1, 6)).due_soon is False  # 4 business days left
    soon = deadline(record, date(2027, 1, 7))
    assert (soon.business_days_left, soon.due_soon, soon.overdue) == (3, True, False)
    late = deadline(record, date(2027, 1, 14))
    assert (late.business_days_left, late.overdue) == (-2, True)


async def test_asked_information_goes_to_the_request(engine: Engine, chat: Chat, clock) -> None:
    ref = await _filed(chat)
    await actions.ask(engine.services, ref, "staff:ani", "Foto KTP buram")
    await chat.say("Ini KTP saya yang baru, maaf tadi buram")
    assert chat.keys == ["info.received"]
    await chat.say("", file_of(PDF))
    assert chat.keys == ["info.received"]
    record = await find_request(engine.services.store, ref)
    assert record.status is RequestStatus.INFO_RECEIVED
    info = [e for e in record.events if e.kind == "info_provided"]
    # The first answer moves the request; the second is recorded, the status stays.
    assert [(e.actor, e.data) for e in info] == [
        (
            "customer",
            {
                "from": "needs_info",
                "to": "info_received",
                "text": "Ini KTP saya yang baru, maaf tadi buram",
            },
        ),
        ("customer", {"from": "info_received", "file": True}),
    ]
    assert len(record.attachments) == 2
    await actions.verify(engine.services, ref, "staff:ani")
    await chat.say("1")  # the request moved on: "1" is the menu's first option again
    assert chat.keys[-1] == "prompt.consequences"


async def test_a_new_due_date_is_from_today_to_two_years_ahead(
    engine: Engine, chat: Chat, clock: FakeClock
) -> None:
    ref = await _filed(chat)
    clock.advance(days=60)  # overdue: 25 Jan 2027 10:00 WIB, past the due date
    today = date(2027, 1, 25)
    record = await find_request(engine.services.store, ref)
    assert record.due_date < today - timedelta(days=1)

    async def delay(until: date) -> None:
        await actions.delay(engine.services, ref, "staff:ani", "x", until)

    for refused in (date(9999, 12, 31), date(2030, 1, 25), date(2029, 1, 26), today - timedelta(1)):
        with pytest.raises(DateOutOfRange) as caught:
            await delay(refused)
        assert (caught.value.earliest, caught.value.latest) == (today, date(2029, 1, 25))
        assert caught.value.params == {
            "until": refused.isoformat(),
            "earliest": "2027-01-25",
            "latest": "2029-01-25",
            "years": 2,
        }
    assert (await find_request(engine.services.store, ref)).due_date == record.due_date
    await delay(date(2028, 1, 25))  # a year ahead
    await delay(date(2029, 1, 25))  # the last day allowed
    assert (await find_request(engine.services.store, ref)).due_date == date(2029, 1, 25)
    assert [e.kind for e in (await find_request(engine.services.store, ref)).events][-2:] == [
        "delay",
        "delay",
    ]


def test_two_years_ahead_of_29_february_is_28_february() -> None:
    assert due_date_window(date(2026, 11, 27)) == (date(2026, 11, 27), date(2028, 11, 27))
    assert due_date_window(date(2028, 2, 29)) == (date(2028, 2, 29), date(2030, 2, 28))


async def test_today_is_the_day_in_the_service_time_zone(
    engine: Engine, chat: Chat, clock: FakeClock
) -> None:
    """ "Today" comes from the service's settings, not from the door or UTC."""
    ref = await _filed(chat)
    clock.now = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)  # Friday 03:00 in Jakarta
    assert engine.services.settings.timezone == "Asia/Jakarta"
    in_utc = dataclasses.replace(
        engine.services,
        settings=dataclasses.replace(engine.services.settings, timezone="UTC"),
    )
    assert actions.today(in_utc) == date(2026, 11, 26)
    with pytest.raises(DateOutOfRange):
        await actions.delay(in_utc, ref, "staff:ani", "x", date(2028, 11, 27))
    assert actions.delay_window(engine.services) == (date(2026, 11, 27), date(2028, 11, 27))
    await actions.delay(engine.services, ref, "staff:ani", "x", date(2028, 11, 27))


async def test_the_listing_filters_sorts_and_pages_in_the_database(
    engine: Engine, clock: FakeClock
) -> None:
    """``list_requests`` narrows by status, type and search in SQL and gives
    exactly what the console's filters used to pick out of every request:
    soonest due first, then in filing order; a search matches part of the
    reference or the whole email, casefolded as Python does it (beyond ASCII)."""
    from itertools import product

    from bot.domain.models import Channel
    from flows.types import OPEN_STATUSES as OPEN
    from flows.types import RequestType

    emails = ["siti@example.com", "Straße@Example.com", "ÖMER@example.com", "budi@example.com"]
    now = clock()
    async with engine.services.store.transaction() as tx:
        for n in range(16):
            address = f"+62812000000{n:02d}"
            chat = await tx.create_conversation(Channel.SMS, address, "menu", "id", now)
            await tx.insert_request(
                reference=f"{('DEL', 'ACC', 'COR', 'RES')[n % 4]}-A{n:05d}",
                type=list(RequestType)[n % len(RequestType)],
                status=list(RequestStatus)[n % len(RequestStatus)],
                channel=Channel.SMS,
                customer_address=address,
                conversation_id=chat.id,
                language="id",
                full_name="Siti Aminah",
                email=emails[n // 4],
                reason=None,
                details={},
                now=now,
                due_date=date(2027, 1, 1) + timedelta(days=(n * 7) % 5),  # ties: filing order
            )
    everything = await list_requests(engine.services.store)
    assert [r.id for r in everything] == [
        r.id for r in sorted(everything, key=lambda r: (r.due_date, r.id))
    ]

    def picked(status: str, kind: str, search: str) -> list[str]:
        """The console's filters as they were, in Python over every request."""
        found = []
        for r in everything:
            if status == "open" and r.status not in OPEN:
                continue
            if status not in ("open", "all") and r.status.value != status:
                continue
            if kind and r.type.value != kind:
                continue
            if search and search not in r.reference.casefold() and search != r.email.casefold():
                continue
            found.append(r.reference)
        return found

    assert len(picked("all", "", "strasse@example.com")) == 4  # ß folds to ss
    assert len(picked("all", "", "ömer@example.com")) == 4  # and Ö to ö
    statuses = ["open", "all", "bogus", *(s.value for s in RequestStatus)]
    kinds = ["", "bogus", *(k.value for k in RequestType)]
    searches = ["", "a0001", "-A0000", "STRASSE@example.com", "ömer@EXAMPLE.com", "example.com"]
    for status, kind, search in product(statuses, kinds, searches):
        wanted = (
            OPEN
            if status == "open"
            else None
            if status == "all"
            else [s for s in RequestStatus if s.value == status]
        )
        types = [k for k in RequestType if k.value == kind] if kind else None
        found = await list_requests(engine.services.store, wanted, types, search.casefold())
        assert [r.reference for r in found] == picked(status, kind, search.casefold()), (
            status,
            kind,
            search,
        )
    assert [
        r.reference for r in await list_requests(engine.services.store, RequestStatus.VERIFYING)
    ] == [r.reference for r in everything if r.status is RequestStatus.VERIFYING]
    pages = [await list_requests(engine.services.store, limit=5, offset=o) for o in range(0, 20, 5)]
    assert [len(p) for p in pages] == [5, 5, 5, 1]
    assert [r.id for p in pages for r in p] == [r.id for r in everything]
    assert [r.id for r in await list_requests(engine.services.store, offset=14)] == [
        r.id for r in everything[14:]
    ]
