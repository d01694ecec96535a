"""Notifications: queued with the action, sent by the outbox worker through the
real adapters (fake Twilio and Telegram servers, a real SMTP server), retried
with backoff, given up and flagged after 48 hours."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from datetime import date
from functools import partial
from pathlib import Path

import pytest

from bot.app import open_engine
from bot.conversation.codes import arm_code
from bot.conversation.engine import Engine
from bot.core import Core
from bot.delivery.notifications import run_worker, send_due
from bot.delivery.reports import delivery_report
from bot.domain.models import FORGOTTEN_EMAIL_PREFIX, Channel, Control, InboundMessage
from bot.requests import actions
from bot.requests.exports import ExportFile, complete_access
from bot.requests.lookup import find_request
from bot.settings import load_settings
from integrations.telegram import TelegramAdapter
from integrations.twilio.adapter import TwilioAdapter
from tests.conftest import CODE, CURRENT, Chat, FakeClock, Inbox, mailbox_of
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.raw import dump, raw

REFERENCE = re.compile(r"\b(DEL|ACC|COR|RES)-[0-9A-HJKMNP-TV-Z]{6}\b")
CUSTOMER = "+6281234567890"


class Desk:
    """The engine, the channel adapters and the outbox, as the server runs them."""

    def __init__(
        self,
        engine: Engine,
        core: Core,
        twilio: FakeTwilio,
        telegram: FakeTelegram,
        inbox: Inbox,
        clock: FakeClock,
    ) -> None:
        self.engine, self.core, self.twilio, self.telegram = engine, core, twilio, telegram
        self.inbox, self.clock = inbox, clock

    async def file(self, channel: Channel, address: str, email_address: str) -> str:
        chat = Chat(self.engine, address=address, channel=channel)
        await chat.script("2", "Siti Aminah", email_address)
        await self.engine.flush_mail()
        body = self.inbox.texts()[-1]  # the code, through the real SMTP server
        code = re.search(r"^(\d{6})\r?$", body, re.MULTILINE).group(1)  # type: ignore[union-attr]
        await chat.script(code, "lewati", "nanti", "1")
        match = REFERENCE.search("\n".join(m.text for m in chat.last))
        assert match, chat.text
        return match.group(0)

    async def act(self, reference: str, action: str, **kw: object) -> None:
        """``action`` as staff do it: ``bot.requests.actions.<action>``."""
        await getattr(actions, action)(self.engine.services, reference, "staff:ani", **kw)

    async def rows(self) -> list[tuple]:
        db = raw(self.engine.services.store)
        async with db.execute(
            "SELECT kind, channel, status, attempts FROM notifications ORDER BY id"
        ) as cur:
            return [tuple(r) for r in await cur.fetchall()]


@pytest.fixture
async def desk(tmp_path: Path, clock: FakeClock, smtp) -> AsyncIterator[Desk]:
    inbox, port = smtp
    async with FakeTwilio() as twilio, FakeTelegram() as telegram:
        settings = load_settings(
            environ={},
            data_dir=str(tmp_path / "data"),
            public_url="https://bot.jovapos.test",
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_whatsapp_number="whatsapp:+14155238886",
            twilio_sms_number="+15005550006",
            twilio_api_base_url=twilio.base_url,
            telegram_bot_token=telegram.token,
            telegram_api_base_url=telegram.base_url,
            telegram_file_base_url=telegram.base_file_url,
            smtp_url=f"smtp://127.0.0.1:{port}",
        )
        async with open_engine(settings, clock=clock) as engine:
            core = Core(settings)
            core.attach(engine)
            core.channels.adapters.extend([TwilioAdapter(core), TelegramAdapter(core)])
            for adapter in core.channels.adapters:
                await adapter.start()
            try:
                yield Desk(engine, core, twilio, telegram, inbox, clock)
            finally:
                for adapter in reversed(core.channels.adapters):
                    await adapter.stop()


async def test_every_notification_arrives_on_its_channel_and_by_email(desk: Desk) -> None:
    whatsapp = await desk.file(Channel.WHATSAPP, CUSTOMER, "siti@example.com")
    telegram_ref = await desk.file(Channel.TELEGRAM, "4242", "budi@example.com")
    codes = len(desk.inbox.messages)  # the two code mails
    assert await send_due(desk.core.services, desk.core.channels) == 2  # the receipts' email copies
    receipts = desk.inbox.texts()[codes:]
    assert any(whatsapp in t for t in receipts) and any(telegram_ref in t for t in receipts)

    for ref in (whatsapp, telegram_ref):
        await desk.act(ref, "ask", message="Mohon kirim foto KTP yang lebih jelas")
        await desk.act(ref, "verify")
        await desk.act(ref, "delay", reason="Arsip lama", until=date(2027, 2, 1))
        await complete_access(
            desk.engine.services, ref, "staff:ani", [ExportFile("pos.csv", b"outlet,total\n")]
        )
    assert (
        await send_due(desk.core.services, desk.core.channels) == 12
    )  # 4 chat + 2 email copies, for each request

    wa = [m["body"] for m in desk.twilio.messages]
    assert [m["to"] for m in desk.twilio.messages] == [f"whatsapp:{CUSTOMER}"] * 4
    assert "Mohon kirim foto KTP yang lebih jelas" in wa[0] and whatsapp in wa[0]
    assert "sudah kami verifikasi" in wa[1]
    assert "Arsip lama" in wa[2] and "1 Februari 2027" in wa[2]
    assert "Unduh salinan data pribadi Anda di https://bot.jovapos.test/download/" in wa[3]
    tg = [m["text"] for m in desk.telegram.sent]
    assert len(tg) == 4 and all(telegram_ref in t for t in tg)
    mails = desk.inbox.texts()[codes + 2 :]
    assert len(mails) == 4  # delay and completion copies, for each request
    assert all(r[2] == "sent" for r in await desk.rows())


async def test_outbox_retries_through_failures_and_sends_once(desk: Desk) -> None:
    ref = await desk.file(Channel.WHATSAPP, CUSTOMER, "siti@example.com")
    await send_due(desk.core.services, desk.core.channels)  # the receipt copy
    await desk.act(ref, "ask", message="Kirim KTP")
    twilio = next(a for a in desk.core.channels.adapters if isinstance(a, TwilioAdapter))
    twilio.http.timeout = 0.5  # so the stalled request times out quickly
    desk.twilio.fail_next_messages(1, status=500)
    desk.twilio.fail_next_messages(1, status=429, retry_after=30)
    assert await send_due(desk.core.services, desk.core.channels) == 0  # 500
    assert await send_due(desk.core.services, desk.core.channels) == 0  # not due yet: backing off
    desk.clock.advance(seconds=2)
    assert (
        await send_due(desk.core.services, desk.core.channels) == 0
    )  # the 429, asking for 30 seconds
    desk.clock.advance(seconds=20)
    assert (
        await send_due(desk.core.services, desk.core.channels) == 0 and desk.twilio.messages == []
    )  # Twilio's wait holds
    desk.clock.advance(seconds=10)
    desk.twilio.stall_next_messages(1, seconds=1.5)
    desk.clock.advance(seconds=5)
    assert await send_due(desk.core.services, desk.core.channels) == 0  # times out
    desk.clock.advance(seconds=10)
    assert await send_due(desk.core.services, desk.core.channels) == 1  # recovered
    assert len(desk.twilio.messages) == 1  # exactly once on the fake
    desk.clock.advance(minutes=10)
    assert await send_due(desk.core.services, desk.core.channels) == 0
    (row,) = [r for r in await desk.rows() if r[0] == "needs_info"]
    assert row[2:] == ("sent", 4)


async def test_gives_up_after_48_hours_and_flags_the_request(desk: Desk) -> None:
    ref = await desk.file(Channel.WHATSAPP, CUSTOMER, "siti@example.com")

    async def mail_server_down(mail: object) -> None:
        raise ConnectionRefusedError("SMTP down")

    desk.engine.services.mailer.send = mail_server_down  # type: ignore[method-assign]
    waits = []
    for _ in range(12):  # a few hours of tries: the gaps grow to 5 minutes, no more
        before = desk.clock.now
        while await send_due(desk.core.services, desk.core.channels) == 0 and (await desk.rows())[
            -1
        ][3] == len(waits):
            desk.clock.advance(seconds=1)
        waits.append((desk.clock.now - before).total_seconds())
    assert waits[0] <= 2 and max(waits) <= 5 * 60 + 1
    assert (await desk.rows())[-1][2] == "pending"
    desk.clock.advance(hours=48)
    await send_due(desk.core.services, desk.core.channels)
    assert (await desk.rows())[-1][2] == "given_up"  # email has nothing to fall back to
    record = await find_request(desk.engine.services.store, ref)
    assert record.events[-1].kind == "notification_failed"
    db = raw(desk.engine.services.store)
    async with db.execute("SELECT needs_attention FROM requests") as cur:
        assert (await cur.fetchone())[0] == 1


async def test_a_refused_message_is_not_retried(desk: Desk) -> None:
    ref = await desk.file(Channel.WHATSAPP, CUSTOMER, "siti@example.com")
    await send_due(desk.core.services, desk.core.channels)
    await desk.act(ref, "ask", message="Kirim KTP")
    desk.twilio.fail_next_messages(1, status=400)
    await send_due(desk.core.services, desk.core.channels)
    rows = [r for r in await desk.rows() if r[0] == "needs_info"]
    assert rows[0][1:] == ("whatsapp", "given_up", 1)  # one try, then the next channel
    assert rows[1][1:3] == ("sms", "pending")


async def test_opted_out_numbers_get_email_instead(desk: Desk) -> None:
    ref = await desk.file(Channel.SMS, CUSTOMER, "siti@example.com")
    await desk.engine.handle(
        InboundMessage(Channel.SMS, CUSTOMER, "stop-1", "STOP", control=Control.OPT_OUT)
    )
    await send_due(desk.core.services, desk.core.channels)
    before = len(desk.inbox.messages)
    await desk.act(ref, "reject", reason="Identitas tidak cocok")
    await send_due(desk.core.services, desk.core.channels)
    assert desk.twilio.messages == []  # no SMS to an opted-out number
    assert "Identitas tidak cocok" in desk.inbox.texts()[before]


async def test_terminal_customers_see_news_when_they_open_the_chat(
    engine: Engine, clock: FakeClock
) -> None:
    from bot.cli import show_pending_notifications

    mailbox_of(engine)
    chat = Chat(engine, address="kasir")
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1")
    ref = REFERENCE.search(chat.text).group(0)  # type: ignore[union-attr]
    await actions.reject(engine.services, ref, "staff:ani", "Data tidak lengkap")

    class Screen:
        user = "kasir"

        def __init__(self) -> None:
            self.shown: list[str] = []

        def show_text(self, text: str) -> None:
            self.shown.append(text)

    screen = Screen()
    await show_pending_notifications(engine.services, screen)
    assert len(screen.shown) == 1 and "Data tidak lengkap" in screen.shown[0]
    await show_pending_notifications(engine.services, screen)
    assert len(screen.shown) == 1  # once only


async def _whatsapp_deletion(desk: Desk, name: str, email: str, reason: str) -> tuple[str, str]:
    """A deletion filed on WhatsApp with its email code and ID proof: its
    reference, and the code the customer typed."""
    from tests.conftest import PNG, file_of

    chat = Chat(desk.engine, address=CUSTOMER, channel=Channel.WHATSAPP)
    await chat.script("1", "1", name, email)
    await desk.engine.flush_mail()
    code = re.search(r"^(\d{6})\r?$", desk.inbox.texts()[-1], re.MULTILINE).group(1)  # type: ignore[union-attr]
    await chat.script(code, reason)
    await chat.say("", file_of(PNG))
    await chat.say("1")
    return REFERENCE.search(chat.text).group(0), code  # type: ignore[union-attr]


async def test_a_completed_deletion_forgets_the_customer(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Completing forgets at once; when the process dies between the move's
    commit and the forgetting, the hourly housekeeping finishes it."""
    from bot.requests.retention import forget_deleted_customers

    engine = desk.engine
    ref, code = await _whatsapp_deletion(
        desk, "Siti Aminah", "siti.aminah@example.com", "Saya pindah ke kota Bandung"
    )
    await desk.act(ref, "verify")

    async def dies(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patched:
        patched.setattr(actions, "forget_customer", dies)
        with pytest.raises(RuntimeError):
            await desk.act(ref, "complete")
    assert (await find_request(engine.services.store, ref)).status.value == "completed"
    assert await forget_deleted_customers(engine.services) == 1
    assert (
        await send_due(desk.core.services, desk.core.channels) >= 2
    )  # the last notices still reach the customer
    assert "sudah kami hapus" in desk.twilio.messages[-1]["body"]
    assert await forget_deleted_customers(engine.services) == 0  # once

    record = await find_request(engine.services.store, ref)
    assert record.type.value == "deletion" and record.status.value == "completed"
    assert record.email == "hmac:" + engine.services.keyring.identity_digest(
        "siti.aminah@example.com"
    )
    assert record.forgotten and record.email.startswith(FORGOTTEN_EMAIL_PREFIX)
    assert not dataclasses.replace(record, email="siti.aminah@example.com").forgotten
    assert record.full_name == "" and record.customer_address == "" and record.reason is None
    assert [e.kind for e in record.events][:3] == ["filed", "verify", "complete"]
    assert all(a.deleted_at is not None for a in record.attachments)

    await engine.services.store.scrub_wal()
    on_disk = b"".join(
        p.read_bytes() for p in engine.services.settings.data_dir.rglob("*") if p.is_file()
    )
    for secret in ("Siti Aminah", "siti.aminah@example.com", "6281234567890", "Bandung"):
        assert secret.encode() not in on_disk, secret
        assert secret.encode("utf-16-le") not in on_disk, secret
    assert code.encode() not in on_disk


async def _whatsapp_request(desk: Desk) -> str:
    ref = await desk.file(Channel.WHATSAPP, CUSTOMER, "siti@example.com")
    await send_due(desk.core.services, desk.core.channels)  # the receipt copy
    desk.clock.advance(hours=25)  # the customer's last message is now over 24 hours old
    return ref


async def test_outside_the_whatsapp_window_a_template_is_used(desk: Desk) -> None:
    ref = await _whatsapp_request(desk)
    desk.core.settings.twilio_templates["needs_info"] = "HX" + "1" * 32
    await desk.act(ref, "ask", message="Kirim KTP")
    assert await send_due(desk.core.services, desk.core.channels) == 1
    (sent,) = desk.twilio.messages
    assert sent["form"]["ContentSid"] == "HX" + "1" * 32
    assert json.loads(sent["form"]["ContentVariables"])["1"] == ref
    # The template was not delivered after all: the notice goes on by SMS.
    from bot.delivery.notifications import delivery_failed

    await delivery_failed(desk.core.services, desk.core.channels, sent["sid"])
    assert await send_due(desk.core.services, desk.core.channels) == 1
    assert desk.twilio.messages[-1]["to"] == CUSTOMER and ref in desk.twilio.messages[-1]["body"]


async def test_outside_the_window_without_template_falls_back_to_sms_then_email(
    desk: Desk,
) -> None:
    ref = await _whatsapp_request(desk)
    await desk.act(ref, "ask", message="Kirim KTP")
    await send_due(desk.core.services, desk.core.channels)  # WhatsApp refused (window), SMS queued
    await send_due(desk.core.services, desk.core.channels)
    assert [m["to"] for m in desk.twilio.messages] == [CUSTOMER]  # by SMS
    assert "Kirim KTP" in desk.twilio.messages[0]["body"]
    kinds = [(r[1], r[2]) for r in await desk.rows() if r[0] == "needs_info"]
    assert kinds == [("whatsapp", "given_up"), ("sms", "sent")]
    # An SMS that is refused for good goes on by email.
    before = len(desk.inbox.messages)
    await desk.act(ref, "reject", reason="Identitas tidak cocok")
    desk.twilio.fail_next_messages(1, status=400)
    for _ in range(3):
        await send_due(desk.core.services, desk.core.channels)
    assert "Identitas tidak cocok" in desk.inbox.texts()[before]
    record = await find_request(desk.engine.services.store, ref)
    assert "notification_failed" not in [e.kind for e in record.events]  # it arrived


async def test_an_undelivered_whatsapp_notice_goes_on_by_sms(desk: Desk) -> None:
    from bot.delivery.notifications import delivery_failed

    ref = await desk.file(Channel.WHATSAPP, CUSTOMER, "siti@example.com")
    await send_due(desk.core.services, desk.core.channels)
    await desk.act(ref, "ask", message="Kirim KTP")
    assert await send_due(desk.core.services, desk.core.channels) == 1
    (whatsapp,) = desk.twilio.messages
    # Twilio's status callback says it never arrived (as TwilioAdapter forwards it).
    await delivery_failed(desk.core.services, desk.core.channels, whatsapp["sid"])
    await delivery_failed(
        desk.core.services, desk.core.channels, "SM" + "0" * 32
    )  # not a notification: ignored
    assert await send_due(desk.core.services, desk.core.channels) == 1
    sms = desk.twilio.messages[-1]
    assert sms["to"] == CUSTOMER and ref in sms["body"]
    rows = [r[1:3] for r in await desk.rows() if r[0] == "needs_info"]
    assert rows == [("whatsapp", "given_up"), ("sms", "sent")]


async def test_compliance_records_go_after_the_configured_years(desk: Desk) -> None:
    from bot.requests.retention import drop_old_compliance_records, forget_deleted_customers

    engine = desk.engine
    chat = Chat(engine, address=CUSTOMER, channel=Channel.WHATSAPP)
    await chat.script("1", "1", "Siti Aminah", "siti.aminah@example.com")
    await engine.flush_mail()
    code = re.search(r"^(\d{6})\r?$", desk.inbox.texts()[-1], re.MULTILINE).group(1)  # type: ignore[union-attr]
    await chat.script(code, "3", "nanti", "1")
    ref = REFERENCE.search(chat.text).group(0)  # type: ignore[union-attr]
    await desk.act(ref, "ask", message="KTP?")
    await desk.act(ref, "verify")
    await desk.act(ref, "complete")
    await forget_deleted_customers(engine.services)
    desk.clock.advance(days=365 * 5 - 1)
    assert await drop_old_compliance_records(engine.services) == 0
    desk.clock.advance(days=3)
    assert await drop_old_compliance_records(engine.services) == 1
    from bot.requests.lookup import RequestNotFound

    with pytest.raises(RequestNotFound):
        await find_request(engine.services.store, ref)


async def test_staff_replies_follow_the_whatsapp_window_and_its_fallbacks(desk: Desk) -> None:
    from bot.staff import chats as staff_chats

    await desk.file(Channel.WHATSAPP, CUSTOMER, "siti@example.com")  # its email is verified
    chat = Chat(desk.engine, address=CUSTOMER, channel=Channel.WHATSAPP)
    await chat.say("staf")
    async with desk.engine.services.store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation(Channel.WHATSAPP, CUSTOMER)
    assert conversation is not None
    chat_id = conversation.id
    await staff_chats.claim(desk.core.services, desk.core.channels, chat_id, "ani@jovapos.test")
    route = await staff_chats.reply(
        desk.core.services, desk.core.channels, chat_id, "ani@jovapos.test", "Halo Siti"
    )
    assert route == "whatsapp"  # within 24 hours: free-form
    assert desk.twilio.messages[-1]["body"] == "Halo Siti"

    desk.clock.advance(hours=25)
    template = "HX" + "2" * 32
    desk.core.settings.twilio_templates["staff_reply"] = template
    route = await staff_chats.reply(
        desk.core.services,
        desk.core.channels,
        chat_id,
        "ani@jovapos.test",
        "Sudah kami cek.\n\n\tTerima kasih     ya",
    )
    assert route == "whatsapp_template"
    sent = desk.twilio.messages[-1]
    assert sent["form"]["ContentSid"] == template
    # Template variables may not hold new lines, tabs or long runs of spaces.
    assert json.loads(sent["form"]["ContentVariables"]) == {"1": "Sudah kami cek. Terima kasih ya"}
    desk.twilio.fail_next_messages(1, status=500)  # Twilio down for the template: SMS
    assert (
        await staff_chats.reply(
            desk.core.services, desk.core.channels, chat_id, "ani@jovapos.test", "Lagi"
        )
        == "sms"
    )
    long = "Panjang " * 200  # too long for a template variable: SMS, whole
    assert (
        await staff_chats.reply(
            desk.core.services, desk.core.channels, chat_id, "ani@jovapos.test", long
        )
        == "sms"
    )

    del desk.core.settings.twilio_templates["staff_reply"]
    route = await staff_chats.reply(
        desk.core.services, desk.core.channels, chat_id, "ani@jovapos.test", "Lewat SMS"
    )
    assert route == "sms"
    assert desk.twilio.messages[-1]["to"] == CUSTOMER
    assert desk.twilio.messages[-1]["body"] == "Lewat SMS"

    desk.twilio.fail_next_messages(1, status=400)  # the SMS refused for good: email
    before = len(desk.inbox.messages)
    route = await staff_chats.reply(
        desk.core.services, desk.core.channels, chat_id, "ani@jovapos.test", "Lewat email"
    )
    assert route == "email"
    await desk.core.channels.flush()  # queued, and sent at once in the background
    assert "Lewat email" in desk.inbox.texts()[before]
    assert "balas kami lewat WhatsApp" in desk.inbox.texts()[before]
    async with desk.engine.services.store.transaction(readonly=True) as tx:
        lines = await tx.transcript(chat_id)
    routes = [m.text for m in lines if m.who == "event:ani@jovapos.test"]
    assert routes == [
        "claim",
        "outside_window staff.reply -> whatsapp_template",
        "outside_window staff.reply -> sms",
        "outside_window staff.reply -> sms",
        "outside_window staff.reply -> sms",
        "outside_window staff.reply -> email",
    ]
    staff_lines = [m for m in lines if m.who == "staff:ani@jovapos.test"]
    assert [m.problem for m in staff_lines] == [False] * 7  # all went out


async def test_a_staff_reply_that_nothing_can_carry_is_refused_and_marked(desk: Desk) -> None:
    from bot.staff import chats as staff_chats

    stranger = "+6289876543210"
    chat = Chat(desk.engine, address=stranger, channel=Channel.WHATSAPP)
    await chat.say("staf")  # no request: no verified email
    async with desk.engine.services.store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation(Channel.WHATSAPP, stranger)
    assert conversation is not None
    await staff_chats.claim(
        desk.core.services, desk.core.channels, conversation.id, "ani@jovapos.test"
    )
    desk.clock.advance(hours=25)
    desk.twilio.fail_next_messages(1, status=400)
    with pytest.raises(staff_chats.ChatError, match="window_closed"):
        await staff_chats.reply(
            desk.core.services, desk.core.channels, conversation.id, "ani@jovapos.test", "Halo?"
        )
    async with desk.engine.services.store.transaction(readonly=True) as tx:
        lines = await tx.transcript(conversation.id)
    (last,) = [m for m in lines if m.text == "Halo?"]
    assert last.who == "staff:ani@jovapos.test"
    assert last.problem  # the console shows it undelivered


async def test_an_undelivered_report_that_beats_our_record_of_the_send_still_counts(
    desk: Desk,
) -> None:

    ref = await desk.file(Channel.WHATSAPP, CUSTOMER, "siti@example.com")
    await send_due(desk.core.services, desk.core.channels)
    await desk.act(ref, "ask", message="Kirim KTP")
    twilio = next(a for a in desk.core.channels.adapters if isinstance(a, TwilioAdapter))
    real_send = twilio.send

    async def report_arrives_first(replies):  # type: ignore[no-untyped-def]
        sent = await real_send(replies)
        for one in sent:  # Twilio's callback, handled before send_due records the send
            await delivery_report(
                desk.core.services,
                desk.core.channels,
                one.provider_id,
                "undelivered",
                "63024",
                [],
                Channel.WHATSAPP,
            )
        return sent

    twilio.send = report_arrives_first  # type: ignore[method-assign]
    assert await send_due(desk.core.services, desk.core.channels) == 1
    twilio.send = real_send  # type: ignore[method-assign]
    assert (
        await send_due(desk.core.services, desk.core.channels) == 1
    )  # the notice goes on by SMS after all
    rows = [r[1:3] for r in await desk.rows() if r[0] == "needs_info"]
    assert rows == [("whatsapp", "given_up"), ("sms", "sent")]
    assert desk.twilio.messages[-1]["to"] == CUSTOMER
    assert "Kirim KTP" in desk.twilio.messages[-1]["body"]


async def test_no_byte_of_a_forgotten_customer_stays_once_the_last_notice_went_out(
    desk: Desk,
) -> None:
    """The last notices keep the address until they are sent; once the worker
    sent them, the address is wiped, and no old page version keeps it in the
    database file, its WAL, or any other file under the data folder."""

    engine = desk.engine
    ref, _ = await _whatsapp_deletion(
        desk, "Sekar Ayuningtyas", "sekar.ayu@example.com", "Saya pindah ke kota Banjarmasin"
    )
    await send_due(desk.core.services, desk.core.channels)  # the receipt's email copy
    mails = len(desk.inbox.messages)
    await desk.act(ref, "verify")
    await actions.complete(engine.services, ref, "staff:ani")
    sent = len(desk.twilio.messages)
    worker = asyncio.create_task(
        run_worker(
            desk.core.services,
            desk.core.channels,
            partial(arm_code, desk.core.services),
            every=0.02,
        )
    )  # the server's worker
    db = raw(engine.services.store)

    async def unsent_or_addressed() -> int:
        async with db.execute(
            "SELECT count(*) FROM notifications WHERE status != 'sent' OR address != ''"
        ) as cur:
            row = await cur.fetchone()
        return int(row[0])

    try:
        for _ in range(250):  # verified and completed on WhatsApp, completed by email
            arrived = (
                len(desk.twilio.messages) == sent + 2 and len(desk.inbox.messages) == mails + 1
            )
            # Arrived is not done: the worker records each send and wipes the
            # address after the provider took it, then scrubs the WAL. A server
            # stopped in between scrubs at its next wipe; here, wait for it.
            if arrived and await unsent_or_addressed() == 0:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # the worker's round ends with the scrub
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
    assert "sudah kami hapus" in desk.twilio.messages[-1]["body"]
    assert desk.inbox.messages[-1]["To"] == "sekar.ayu@example.com"

    settings = engine.services.settings
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    if not CURRENT:  # SQLite: the database and its WAL are files of the folder
        assert {p.name for p in files} >= {"privacybot.db"}
    rows = dump(settings.database_path)  # on PostgreSQL: every row of every table
    for secret in ("Sekar Ayuningtyas", "sekar.ayu@example.com", "6281234567890", "Banjarmasin"):
        assert not [line for line in rows if secret in line], secret
        for path in files:
            content = path.read_bytes()
            for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                assert secret.encode(encoding) not in content, (secret, encoding, path.name)


async def test_the_development_mail_of_a_forgotten_customers_last_notice_goes_too(
    desk: Desk,
) -> None:
    """Without SMTP the last notice is written as an .eml file after the
    forgetting ran: once it is sent and the address wiped, the file goes too."""
    from bot.infra.mail import FileMailer

    engine = desk.engine
    ref, _ = await _whatsapp_deletion(
        desk, "Sekar Ayuningtyas", "sekar.ayu@example.com", "Saya pindah ke kota Banjarmasin"
    )
    folder = engine.services.settings.data_dir / "mail"
    engine.services.mailer = FileMailer(folder, "privasi@jovapos.test")
    await send_due(desk.core.services, desk.core.channels)  # the receipt's email copy, as a file
    assert any(b"sekar.ayu@example.com" in p.read_bytes() for p in folder.glob("*.eml"))
    await desk.act(ref, "verify")
    await actions.complete(engine.services, ref, "staff:ani")
    for _ in range(3):
        await send_due(desk.core.services, desk.core.channels)
    files = [p for p in engine.services.settings.data_dir.rglob("*") if p.is_file()]
    for path in files:
        assert b"sekar.ayu@example.com" not in path.read_bytes(), path.name


async def test_a_batch_that_outlasts_its_lease_sends_each_notice_once(
    engine: Engine, clock: FakeClock
) -> None:
    """Two outbox workers (two server processes): the first claims a batch
    whose sending outlasts the lease, the second takes the rows that lease let
    go. Each notice still goes exactly once: the first renews a row's lease
    from the one it took before sending it, and skips a row the second holds."""
    from collections.abc import Sequence

    from bot.delivery.channels import ChannelAdapter, Sent
    from bot.domain.models import OutboundMessage
    from bot.requests.notify import notify
    from flows.types import RequestStatus, RequestType

    sent: list[str] = []
    sending = asyncio.Event()

    class SlowTelegram(ChannelAdapter):
        """A slow Bot API: one notice fits in the lease, three do not."""

        name = "telegram"
        channels = (Channel.TELEGRAM,)

        async def send(self, replies: Sequence[OutboundMessage]) -> list[Sent]:
            sending.set()
            clock.advance(seconds=90)
            await asyncio.sleep(0.01)  # meanwhile the other worker runs
            sent.extend(r.address for r in replies)
            return [Sent(r, f"tg-{len(sent)}") for r in replies]

    core = Core(engine.services.settings)
    core.attach(engine)
    core.channels.adapters.append(SlowTelegram())
    now = clock()
    addresses = [f"424{n}" for n in range(3)]
    async with engine.services.store.transaction() as tx:
        for n, address in enumerate(addresses):
            chat = await tx.create_conversation(Channel.TELEGRAM, address, "menu", "id", now)
            await tx.insert_request(
                reference=f"ACC-00000{n}",
                type=RequestType.ACCESS,
                status=RequestStatus.IN_PROGRESS,
                channel=Channel.TELEGRAM,
                customer_address=address,
                conversation_id=chat.id,
                language="id",
                full_name="Siti Aminah",
                email=f"c{n}@example.com",
                reason=None,
                details={},
                now=now,
                due_date=date(2027, 1, 8),
            )
            record = await tx.get_request(f"ACC-00000{n}")
            assert record is not None
            await notify(tx, record, "in_progress", now, serial=1)  # on Telegram only
    first = asyncio.create_task(send_due(core.services, core.channels))
    await sending.wait()  # the first worker holds the whole batch now
    while not first.done():  # the second polls, as the outbox worker does
        await send_due(core.services, core.channels)
        await asyncio.sleep(0.001)
    await first
    assert sorted(sent) == addresses  # each once
    assert await send_due(core.services, core.channels) == 0  # and nothing is left queued
