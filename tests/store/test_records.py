"""The store hands back typed records (never rows as dicts), times as
datetimes, and filters in SQL what callers used to filter after loading
everything: a data copy's requests by email, the last active admin, the email
a staff reply falls back to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.models import (
    FORGOTTEN_EMAIL_PREFIX,
    Channel,
    CustomerMessage,
    DownloadRecord,
    PendingStaffMessage,
    StaffReply,
    TranscriptLine,
)
from bot.domain.records_staff import (
    LoginFailures,
    StaffAccount,
    StaffAuditEntry,
    StaffMember,
    StaffSessionRecord,
)
from bot.store import Store, Transaction
from bot.store.sqlite import SQLiteStore
from flows.types import RequestStatus, RequestType

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1, microseconds=250)  # microseconds survive the text form
T2 = T0 + timedelta(minutes=2)
T3 = T0 + timedelta(minutes=3)
ANI = "ani@jovapos.test"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with SQLiteStore(tmp_path / "store.db") as opened:
        yield opened


async def _file(
    tx: Transaction,
    reference: str,
    email: str,
    address: str,
    now: datetime = T0,
    status: RequestStatus = RequestStatus.VERIFYING,
) -> int:
    """A request filed from a terminal conversation (made if new); its conversation's id."""
    conversation = await tx.get_conversation(Channel.TERMINAL, address)
    if conversation is None:
        conversation = await tx.create_conversation(Channel.TERMINAL, address, "menu", "id", now)
    await tx.insert_request(
        reference=reference,
        type=RequestType.ACCESS,
        status=status,
        channel=Channel.TERMINAL,
        customer_address=address,
        conversation_id=conversation.id,
        language="id",
        full_name="Ünal Yılmaz",
        email=email,
        reason=None,
        details={},
        now=now,
        due_date=date(2026, 12, 24),
    )
    return conversation.id


async def test_a_chat_comes_back_as_typed_lines(store: Store) -> None:
    async with store.transaction() as tx:
        chat = await _file(tx, "ACC-AAAAAA", "unal@example.com", "unal")
        inbound = await tx.record_inbound(
            chat, Channel.TERMINAL, "m1", "halo", False, 0, "menu", "menu", T0
        )
        await tx.record_outbound(chat, inbound, "id", "menu", [("menu", "Pilih:", ())], T0)
        (reply,) = await tx.record_outbound(
            chat, None, "id", "", [("staff.reply", "Halo dari staf", ())], T1, author=ANI
        )
        await tx.add_staff_note(chat, ANI, "pelanggan lama", T2)
        await tx.add_chat_event(chat, ANI, "undelivered", f"{reply} sms", T3)

    async with store.transaction(readonly=True) as tx:
        lines = await tx.transcript(chat)
        pending = await tx.pending_staff_messages(Channel.TERMINAL, "unal")
        found = await tx.staff_reply(reply)
        not_staff = await tx.staff_reply(reply - 1)  # the bot's answer
        messages = await tx.request_transcripts("UNAL@example.com")
    assert lines == [
        TranscriptLine(T0, "customer", "halo"),
        TranscriptLine(T0, "bot", "Pilih:", problem=True),  # never sent
        TranscriptLine(T1, f"staff:{ANI}", "Halo dari staf", problem=True),
        TranscriptLine(T2, f"note:{ANI}", "pelanggan lama"),
        TranscriptLine(T3, f"event:{ANI}", f"undelivered {reply} sms"),
    ]
    assert all(type(line.problem) is bool and type(line.sealed) is bool for line in lines)
    assert pending == [PendingStaffMessage(reply, "Halo dari staf", T1)]
    assert found == StaffReply(chat, ANI, "Halo dari staf", rerouted=True)
    assert not_staff is None
    assert messages == [
        CustomerMessage(Channel.TERMINAL, T0, "customer", "halo"),
        CustomerMessage(Channel.TERMINAL, T0, "bot", "Pilih:"),
        CustomerMessage(Channel.TERMINAL, T1, "staff", "Halo dari staf"),
    ]


async def test_a_download_comes_back_typed_until_it_expires(store: Store) -> None:
    expires = T0 + timedelta(days=7)
    async with store.transaction() as tx:
        await _file(tx, "ACC-BBBBBB", "unal@example.com", "unal")
        await tx.create_download("hash", "ACC-BBBBBB", "blob", 123, "sha", T0, expires)
        fresh = await tx.get_download("hash", T1)
        await tx.set_download_code("hash", "digest", T2, 1, T1)
        armed = await tx.get_download("hash", T1)
        gone = await tx.get_download("hash", expires)
    assert fresh == DownloadRecord(
        token_hash="hash",
        reference="ACC-BBBBBB",
        email="unal@example.com",
        language="id",
        blob_token="blob",
        size=123,
        sha256="sha",
        created_at=T0,
        expires_at=expires,
        code_digest=None,
        code_expires=None,
        code_attempts=0,
        code_sent_at=None,
    )
    assert armed is not None
    assert (armed.code_digest, armed.code_expires, armed.code_attempts, armed.code_sent_at) == (
        "digest",
        T2,
        1,
        T1,
    )
    assert gone is None


async def test_staff_records_come_back_typed(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.create_staff("Ani@JovaPOS.test", "admin", "hash-ani", T0)
        assert await tx.create_staff("budi@jovapos.test", "agent", "hash-budi", T1)
        await tx.add_staff_audit("system", "add:admin", ANI, T0)
        await tx.add_staff_audit(ANI, "add:agent", "budi@jovapos.test", T1)
        await tx.set_login_failures("10.0.0.1", 5, T3, T2)
        account = await tx.staff_by_email("ANI@jovapos.test")
        assert account is not None
        await tx.set_staff_login_state(account.id, 4, T3)
        assert await tx.add_staff_login_failure(account.id) == (5, T3)
        assert await tx.add_login_failure("10.0.0.2", T2) == (1, None)
        await tx.create_session("sid", account.id, "csrf", "en", T0)
        await tx.touch_session("sid", T2, None)

    async with store.transaction(readonly=True) as tx:
        members = await tx.list_staff()
        account = await tx.staff_by_email(ANI)
        audit = await tx.staff_audit(1)
        failures = await tx.login_failures("10.0.0.1")
        unknown = await tx.login_failures("10.9.9.9")
        session = await tx.get_session("sid")
    assert account is not None
    assert members == [
        StaffMember(account.id, ANI, "admin", T0, T3, None),  # locked by its failures
        StaffMember(account.id + 1, "budi@jovapos.test", "agent", T1, None, None),
    ]
    # A listing never carries password hashes.
    assert "password_hash" not in {f.name for f in fields(members[0])}
    assert account == StaffAccount(
        account.id, ANI, "admin", T0, T3, None, password_hash="hash-ani", failed_logins=5
    )
    assert audit == [StaffAuditEntry(ANI, "add:agent", "budi@jovapos.test", T1)]
    assert failures == LoginFailures("10.0.0.1", 5, T2, T3)
    assert unknown is None
    assert session == StaffSessionRecord("sid", account.id, ANI, "admin", "csrf", "en", T0, T2)


async def test_the_other_active_admins_are_counted_by_the_database(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.create_staff(ANI, "admin", "h", T0)
        await tx.create_staff("budi@jovapos.test", "agent", "h", T0)
        ani = await tx.staff_by_email(ANI)
        assert ani is not None
        assert await tx.other_active_admins(ani.id) == 0  # agents do not count
        await tx.create_staff("cici@jovapos.test", "admin", "h", T0)
        assert await tx.other_active_admins(ani.id) == 1
        cici = await tx.staff_by_email("cici@jovapos.test")
        assert cici is not None
        await tx.update_staff(cici.id, disabled_at=T1)
        assert await tx.other_active_admins(ani.id) == 0  # nor disabled admins


async def test_a_data_copy_gets_exactly_the_requests_of_its_email_in_any_case(
    store: Store,
) -> None:
    """Filtered by SQL with Python's casefold (SQLite's lower() would not fold
    the Ü), so ``complete_access`` no longer loads every request."""
    async with store.transaction() as tx:
        chats = [
            await _file(tx, "ACC-AAAAAA", "Ünal@Example.com", "unal"),
            await _file(
                tx, "ACC-BBBBBB", "ÜNAL@example.COM", "unal-2", status=RequestStatus.COMPLETED
            ),
            await _file(tx, "ACC-CCCCCC", "unal@example.com", "unal-3"),  # no Ü: someone else
            await _file(tx, "ACC-DDDDDD", "xünal@example.com", "unal-4"),
            await _file(tx, "ACC-EEEEEE", FORGOTTEN_EMAIL_PREFIX + "ünal@example.com", ""),
        ]
        for n, chat in enumerate(chats):
            await tx.record_inbound(
                chat, Channel.TERMINAL, f"m{n}", f"pesan {n}", False, 0, "menu", "menu", T0
            )

    async with store.transaction(readonly=True) as tx:
        theirs = await tx.list_requests(email="üNAL@example.com")
        open_only = await tx.list_requests(RequestStatus.VERIFYING, email="ÜNAL@EXAMPLE.COM")
        nobody = await tx.list_requests(email="nobody@example.com")
        transcripts = await tx.request_transcripts("ÜNAL@example.com")
    assert [r.reference for r in theirs] == ["ACC-AAAAAA", "ACC-BBBBBB"]
    assert [r.reference for r in open_only] == ["ACC-AAAAAA"]
    assert nobody == []
    # The conversations that filed them, by the same match.
    assert [m.text for m in transcripts] == ["pesan 0", "pesan 1"]


async def test_a_staff_reply_falls_back_to_the_latest_email_still_known(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.latest_request_email(Channel.TERMINAL, "siti") is None
        await _file(tx, "ACC-AAAAAA", "lama@example.com", "siti", now=T0)
        await _file(tx, "ACC-BBBBBB", "baru@example.com", "siti", now=T1)
        await _file(tx, "ACC-CCCCCC", "lain@example.com", "budi", now=T2)
        await _file(tx, "ACC-DDDDDD", FORGOTTEN_EMAIL_PREFIX + "abc", "siti", now=T3)
        assert await tx.latest_request_email(Channel.TERMINAL, "siti") == "baru@example.com"
        assert await tx.latest_request_email(Channel.SMS, "siti") is None
