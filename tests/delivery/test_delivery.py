"""Delivery's core: one route policy for notices and staff replies, adapters
that only translate (the core records what left, a batch in one transaction,
also the part that left before a failure), and staff replies by email
through the durable mail outbox."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.app import open_engine
from bot.conversation.engine import Engine
from bot.core import Core
from bot.delivery.channels import ChannelAdapter, DeliveryRefused, PartialDelivery, Sent
from bot.delivery.routes import TEMPLATE, Reach, first_route, onward, window_open
from bot.domain.models import Channel, OutboundMessage
from bot.settings import Settings
from bot.staff import chats as staff_chats
from tests.conftest import CODE, Chat, FakeClock, mailbox_of
from tests.raw import raw

CUSTOMER = "+6281234567890"


def test_whatsapp_takes_free_form_messages_for_24_hours() -> None:
    now = datetime(2025, 1, 10, 12, tzinfo=UTC)

    def wrote(hours_ago: float | None) -> Any:
        last = None if hours_ago is None else now - timedelta(hours=hours_ago)
        return SimpleNamespace(last_activity_at=last)

    assert window_open(wrote(23.9), now)
    assert not window_open(wrote(24), now)
    assert not window_open(wrote(None), now) and not window_open(None, now)


def test_the_first_route_is_the_channel_or_outside_the_window_its_template() -> None:
    assert first_route("telegram", in_window=False, template=False) == "telegram"
    assert first_route("sms", in_window=False, template=True) == "sms"
    assert first_route("whatsapp", in_window=True, template=True) == "whatsapp"
    assert first_route("whatsapp", in_window=False, template=True) == TEMPLATE
    assert first_route("whatsapp", in_window=False, template=False) is None


def test_after_whatsapp_sms_then_email_each_only_when_open() -> None:
    both = Reach(sms=True, email="siti@example.com")
    assert onward("whatsapp", both) == onward(TEMPLATE, both) == ["sms", "email"]
    assert onward("whatsapp", Reach(sms=False, email="siti@example.com")) == ["email"]
    assert onward("whatsapp", Reach(sms=True, email=None)) == ["sms"]
    assert onward("sms", both) == ["email"]  # SMS is not tried after SMS
    assert onward("telegram", both) == ["email"]
    assert onward("email", both) == [] and onward("terminal", both) == []


class Flaky(ChannelAdapter):
    """A Telegram stand-in that sends ``good`` replies, then fails."""

    name = "flaky"
    channels = (Channel.TELEGRAM,)

    def __init__(self, good: int) -> None:
        self.good = good
        self.batches: list[list[str]] = []

    async def send(self, replies: Sequence[OutboundMessage]) -> list[Sent]:
        self.batches.append([r.text for r in replies])
        sent = [Sent(r, f"m{r.id}") for r in replies[: self.good]]
        if len(sent) < len(replies):
            failure = DeliveryRefused("blocked")
            raise PartialDelivery(sent, failure) if sent else failure
        return sent


async def _unsent(engine: Engine, texts: Sequence[str]) -> list[OutboundMessage]:
    """Messages recorded for a Telegram customer, not sent yet."""
    await Chat(engine, address="4242", channel=Channel.TELEGRAM).say("halo")
    async with engine.services.store.transaction() as tx:
        conversation = await tx.get_conversation(Channel.TELEGRAM, "4242")
        assert conversation is not None
        ids = await tx.record_outbound(
            conversation.id,
            None,
            "id",
            conversation.state,
            [("staff.reply", text, ()) for text in texts],
            engine.services.clock(),
            author="ani@jovapos.test",
        )
    return [
        OutboundMessage(Channel.TELEGRAM, "4242", "staff.reply", text, "id", id_)
        for id_, text in zip(ids, texts, strict=True)
    ]


async def _sent_rows(engine: Engine, replies: Sequence[OutboundMessage]) -> list[tuple]:
    db = raw(engine.services.store)
    marks = ",".join("?" * len(replies))
    async with db.execute(
        f"SELECT sent_at IS NOT NULL, provider_id FROM outbound_messages WHERE id IN ({marks}) "
        "ORDER BY id",
        [r.id for r in replies],
    ) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def test_the_core_records_a_batch_in_one_transaction(engine: Engine) -> None:
    core = Core(engine.services.settings)
    core.attach(engine)
    core.channels.adapters.append(Flaky(good=3))
    replies = await _unsent(engine, ["satu", "dua", "tiga"])
    store = engine.services.store
    real = store.transaction
    opened: list[bool] = []

    def counted(readonly: bool = False, key: str | None = None) -> Any:
        opened.append(readonly)
        return real(readonly=readonly, key=key)

    store.transaction = counted  # type: ignore[method-assign]
    try:
        assert await core.channels.deliver(replies, proactive=False)
    finally:
        store.transaction = real  # type: ignore[method-assign]
    assert opened == [False, False]  # three replies: one claim, one record
    assert await _sent_rows(engine, replies) == [(1, f"m{r.id}") for r in replies]
    sent_again = [dataclasses.replace(r, sent=True) for r in replies]
    assert await core.channels.deliver(sent_again, proactive=False)  # nothing to send
    assert len(core.channels.adapters[0].batches) == 1  # type: ignore[attr-defined]


async def test_what_left_before_an_adapter_failed_is_recorded_and_the_failure_raised(
    engine: Engine,
) -> None:
    core = Core(engine.services.settings)
    core.attach(engine)
    flaky = Flaky(good=1)
    core.channels.adapters.append(flaky)
    replies = await _unsent(engine, ["satu", "dua"])
    with pytest.raises(DeliveryRefused):  # the cause, as the adapter met it
        await core.channels.send(flaky, replies)
    assert await _sent_rows(engine, replies) == [(1, f"m{replies[0].id}"), (0, None)]
    # Only the rest is left unsent: a redelivered update sends just that.
    async with engine.services.store.transaction(readonly=True) as tx:
        left = await tx.pending_staff_messages(Channel.TELEGRAM, "4242")
    assert [r.id for r in left] == [replies[1].id]


async def _claimed_outside_the_window(engine: Engine, clock: FakeClock) -> int:
    """A WhatsApp customer with a verified email, whose chat ani holds, more
    than 24 hours after their last message; no template, no SMS."""
    mailbox_of(engine)  # listening before the code is mailed
    chat = Chat(engine, address=CUSTOMER, channel=Channel.WHATSAPP)
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1")
    assert re.search(r"ACC-[0-9A-Z]{6}", chat.text), chat.text
    await chat.say("staf")
    async with engine.services.store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation(Channel.WHATSAPP, CUSTOMER)
    assert conversation is not None
    core = Core(engine.services.settings)
    core.attach(engine)
    await staff_chats.claim(core.services, core.channels, conversation.id, "ani@jovapos.test")
    clock.advance(hours=25)
    return conversation.id


class Killed(BaseException):
    """The process dies: nothing after this point runs."""


async def test_a_staff_email_reply_survives_a_process_killed_before_it_went(
    settings: Settings, clock: FakeClock
) -> None:
    from tests.conversation.test_identity import _worker_sends

    async with open_engine(settings, clock=clock) as first:
        chat_id = await _claimed_outside_the_window(first, clock)
        box = mailbox_of(first)
        mails = len(box.mails)

        def killed(*args: object, **kwargs: object) -> None:
            raise Killed

        first.services.mailer.send = killed  # type: ignore[assignment,method-assign]
        core = Core(first.services.settings)
        core.attach(first)
        try:
            route = await staff_chats.reply(
                core.services, core.channels, chat_id, "ani@jovapos.test", "Sudah kami cek"
            )
            await core.channels.flush()
        except Killed:
            route = None
        assert len(box.mails) == mails
        async with first.services.store.transaction(readonly=True) as tx:
            lines = await tx.transcript(chat_id)
        (reply,) = [m for m in lines if m.text == "Sudah kami cek"]
        assert reply.problem  # not sent yet, and not shown as sent

    clock.advance(minutes=3)  # the dead process's hold on the mail ran out
    async with open_engine(settings, clock=clock) as second:  # restarted
        box = mailbox_of(second)
        await _worker_sends(second, box, 2)  # with the receipt's email copy
        replies = [m for m in box.mails if "Sudah kami cek" in m.text]
        assert [m.to for m in replies] == ["siti@example.com"]  # once
        async with second.services.store.transaction(readonly=True) as tx:
            lines = await tx.transcript(chat_id)
        (reply,) = [m for m in lines if m.text == "Sudah kami cek"]
        assert not reply.problem  # marked sent when the mail went
    assert route == "email"  # staff were told it goes by email: it did


async def test_a_staff_email_reply_goes_at_once_in_the_background(
    engine: Engine, clock: FakeClock
) -> None:
    chat_id = await _claimed_outside_the_window(engine, clock)
    box = mailbox_of(engine)
    core = Core(engine.services.settings)
    core.attach(engine)
    route = await staff_chats.reply(
        core.services, core.channels, chat_id, "ani@jovapos.test", "Halo Siti"
    )
    assert route == "email"
    await core.channels.flush()
    (mail,) = [m for m in box.mails if "Halo Siti" in m.text]
    assert mail.to == "siti@example.com" and mail.message_key.startswith("staff-reply:")
    async with engine.services.store.transaction(readonly=True) as tx:
        lines = await tx.transcript(chat_id)
    assert "outside_window staff.reply -> email" in [m.text for m in lines]
    (reply,) = [m for m in lines if m.text == "Halo Siti"]
    assert not reply.problem


class Slow(Flaky):
    """Sends after a while (another instance looks meanwhile), or fails then."""

    def __init__(self, good: int, seconds: float = 0.3) -> None:
        super().__init__(good)
        self.seconds = seconds

    async def send(self, replies: Sequence[OutboundMessage]) -> list[Sent]:
        await asyncio.sleep(self.seconds)
        return await super().send(replies)


async def test_replies_reaching_two_instances_at_once_leave_once(engine: Engine) -> None:
    """One update at two instances (Telegram's webhook retried while the first
    is still at work): the instance that claimed the replies sends them; the
    other waits until they left, and sends nothing. When the first cannot
    send them, the other does."""
    instances = []
    for adapter in (Slow(good=10), Slow(good=10, seconds=0)):
        core = Core(engine.services.settings)
        core.attach(engine)
        instances.append((core, adapter))
    replies = await _unsent(engine, ["satu", "dua"])
    sent = await asyncio.gather(*(core.channels.send(a, replies) for core, a in instances))
    assert sorted(len(s) for s in sent) == [0, 2]
    assert [len(a.batches) for _, a in instances].count(1) == 1  # one batch left, once
    assert await _sent_rows(engine, replies) == [(1, f"m{r.id}") for r in replies]

    failing, working = Slow(good=0), Slow(good=10, seconds=0)
    again = await _unsent(engine, ["tiga"])
    outcome = await asyncio.gather(
        instances[0][0].channels.send(failing, again),
        instances[1][0].channels.send(working, again),
        return_exceptions=True,
    )
    # Whichever claimed first: the failing one gives them back, the other sends.
    assert await _sent_rows(engine, again) == [(1, f"m{again[0].id}")]
    assert len(working.batches) == 1
    assert [type(o).__name__ for o in outcome if isinstance(o, Exception)] in (
        [],
        ["DeliveryRefused"],
    )
