"""Staff taking over chats the bot handed over: claim, reply, note, release.

While a chat is claimed the bot stays quiet (the engine records the
customer's messages and answers nothing). Replies and the join/leave notices
are recorded as the conversation's outbound messages, then delivered through
the customer's channel. Releasing gives the chat back to the bot at the step
it was waiting on.

WhatsApp refuses free-form messages more than 24 hours after the customer's
last one. A reply then goes as the approved template for staff replies
(``TWILIO_TEMPLATE_STAFF_REPLY``, the reply as its variable 1), else by SMS to
the same number (unless it opted out of SMS), else by email to the verified
address of the customer's latest request: the order of the notifications. The
route taken is noted in the transcript; a reply no route can carry is refused
with the reason, so staff know the customer did not get it.
"""

from __future__ import annotations

import dataclasses
import logging

from bot.delivery.channels import PULLED_CHANNELS, Channels, mark_sent, opted_out
from bot.delivery.notifications import window_open
from bot.domain.models import Channel, ConversationRecord, OutboundMessage
from bot.infra.mail import Mail, html_page
from bot.services import Services
from bot.store import Transaction
from flows.dialogue import release_to_bot
from flows.types import Label, Reply

log = logging.getLogger(__name__)

MAX_REPLY = 4000
TEMPLATE_VARIABLE_LIMIT = 1000  # WhatsApp's template body is at most 1,024 characters


class ChatError(ValueError):
    """A refused chat action. ``key`` names its text under ``console.problem``:
    the console shows that, never the message (which may quote input)."""

    def __init__(self, message: str, key: str = "not_possible") -> None:
        super().__init__(message)
        self.key = key


async def _record(
    services: Services,
    channels: Channels,
    conversation: ConversationRecord,
    staff: str,
    key: str,
    text: str,
) -> OutboundMessage:
    """Record a message from ``staff`` to the customer, not yet sent."""
    async with services.store.transaction() as tx:
        (id_,) = await tx.record_outbound(
            conversation.id,
            None,
            conversation.language,
            conversation.state,
            [(key, text, ())],
            services.clock(),
            author=staff,
        )
    return OutboundMessage(
        conversation.channel, conversation.address, key, text, conversation.language, id_
    )


async def _held(
    services: Services,
    channels: Channels,
    conversation_id: int,
    staff: str,
    tx: Transaction | None = None,
) -> ConversationRecord:
    """The chat, which ``staff`` must hold; read inside ``tx`` when the caller
    is about to change it (so a customer's message in between is not undone)."""
    if tx is None:
        async with services.store.transaction(readonly=True) as own:
            conversation = await own.get_conversation_by_id(conversation_id)
    else:
        conversation = await tx.get_conversation_by_id(conversation_id)
    if conversation is None:
        raise ChatError("no such chat", "no_chat")
    if conversation.claimed_by != staff:
        raise ChatError("claim the chat first", "claim_first")
    return conversation


async def claim(
    services: Services,
    channels: Channels,
    conversation_id: int,
    staff: str,
    take_over: bool = False,
) -> None:
    """Take a chat; ``take_over`` (admins) takes it from whoever holds it."""
    async with services.store.transaction() as tx:
        conversation = await tx.get_conversation_by_id(conversation_id)
        if conversation is None:
            raise ChatError("no such chat", "no_chat")
        holder = conversation.claimed_by
        if holder and holder != staff and not take_over:
            raise ChatError(f"{holder} already has this chat", "held_by_other")
        conversation.claimed_by = staff
        await tx.save_conversation(conversation)
        taken = bool(holder) and holder != staff
        await tx.add_chat_event(
            conversation.id,
            staff,
            "take_over" if taken else "claim",
            f"<- {holder}" if taken else "",
            services.clock(),
        )
    text = services.catalogue.render(conversation.language, Reply("staff.joined"))
    await _send(services, channels, conversation, staff, "staff.joined", text)


async def reply(
    services: Services, channels: Channels, conversation_id: int, staff: str, text: str
) -> str:
    """Send a staff reply; the route it took (a channel, ``whatsapp_template``
    or ``email``), or ``queued`` on a channel with no push (the terminal),
    where it waits for the customer to open the chat."""
    text = text.strip()
    if not text or len(text) > MAX_REPLY:
        raise ChatError(f"a reply has 1 to {MAX_REPLY} characters", "reply_length")
    conversation = await _held(services, channels, conversation_id, staff)
    route = await _send(services, channels, conversation, staff, "staff.reply", text)
    if route is not None:
        return route
    if conversation.channel is Channel.WHATSAPP:
        raise ChatError(
            "not delivered: WhatsApp's 24-hour window is closed and there is no template "
            "(TWILIO_TEMPLATE_STAFF_REPLY), SMS or verified email for this customer",
            "window_closed",
        )
    raise ChatError(
        f"not delivered on {conversation.channel.value}; try again later", "not_delivered"
    )


async def _send(
    services: Services,
    channels: Channels,
    conversation: ConversationRecord,
    staff: str,
    key: str,
    text: str,
) -> str | None:
    """Record and deliver one message from staff; the route it took
    (``queued`` where the customer fetches it), or None when it could not go
    (it stays recorded, marked undelivered)."""
    if conversation.channel is not Channel.WHATSAPP or window_open(conversation, services.clock()):
        outbound = await _record(services, channels, conversation, staff, key, text)
        delivered = await channels.deliver([outbound], proactive=False)
        if not delivered:
            return None
        return "queued" if conversation.channel in PULLED_CHANNELS else conversation.channel.value
    route = await _outside_window(services, channels, conversation, staff, key, text)
    if route is not None:  # the 24-hour window was closed: say how it went instead
        async with services.store.transaction() as tx:
            await tx.add_chat_event(
                conversation.id, staff, "outside_window", f"{key} -> {route}", services.clock()
            )
    return route


def template_text(text: str) -> str | None:
    """The reply as a WhatsApp template variable: Meta refuses new lines, tabs
    and runs of more than four spaces there, and long values. None when it
    does not fit (the reply then goes by SMS or email, whole)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= TEMPLATE_VARIABLE_LIMIT else None


async def _outside_window(
    services: Services,
    channels: Channels,
    conversation: ConversationRecord,
    staff: str,
    key: str,
    text: str,
    failed_on: Channel | None = None,
) -> str | None:
    """Template, else SMS, else (for replies, not notices) email; after a
    message ``failed_on`` a channel, only the routes that come after it."""
    message = await _record(services, channels, conversation, staff, key, text)
    route = None
    template = services.settings.twilio_templates.get("staff_reply")
    whatsapp = channels.adapter_for(Channel.WHATSAPP)
    variable = template_text(text)
    if template and whatsapp is not None and variable is not None and failed_on is None:
        try:
            sid = await whatsapp.send_template(
                conversation.address, template, {"1": variable}, carries=message
            )
        except Exception as exc:  # refused, rate-limited or down: the next route
            log.warning("staff reply template not sent: %s", type(exc).__name__)
        else:
            await mark_sent(services, message, sid)
            route = "whatsapp_template"
    if (
        route is None
        and failed_on is not Channel.SMS
        and services.settings.twilio_sms_number
        and channels.adapter_for(Channel.SMS)
        and not await opted_out(services, Channel.SMS, conversation.address)
    ):
        sms = dataclasses.replace(message, channel=Channel.SMS)
        if await channels.deliver([sms], proactive=False):
            route = "sms"
    if route is None and key == "staff.reply":
        async with services.store.transaction(readonly=True) as tx:
            filed = await tx.requests_for_address(conversation.channel, conversation.address)
        emails = [r for r in filed if not r.forgotten]
        if emails:
            latest = max(emails, key=lambda r: r.created_at)
            footer = services.catalogue.render(
                conversation.language,
                Reply(
                    "mail.staff_reply.footer",
                    {"channel": Label(f"channel.{conversation.channel.value}")},
                ),
            )
            try:
                await services.mailer.send(
                    Mail(
                        to=latest.email,
                        subject=services.catalogue.text(
                            conversation.language, "mail.staff_reply.subject"
                        ),
                        text=f"{text}\n\n{footer}\n\nJOVA POS",
                        html=html_page([text, footer]),
                        language=conversation.language,
                        message_key=f"staff-reply:{message.id}",
                    )
                )
            except Exception as exc:
                log.warning("staff reply by email failed: %s", type(exc).__name__)
            else:
                await mark_sent(services, message)
                route = "email"
    return route


async def undelivered(
    services: Services, channels: Channels, outbound_ids: list[int], channel: Channel
) -> None:
    """The provider reports staff replies it could not deliver on ``channel``:
    each goes on by the routes after it (WhatsApp, then SMS, then email), once,
    as notifications do. Notices (joined, back to the bot) are not re-sent."""
    for outbound_id in outbound_ids:
        async with services.store.transaction() as tx:
            found = await tx.staff_reply(outbound_id)
            conversation = (
                await tx.get_conversation_by_id(found["conversation_id"]) if found else None
            )
            if found is None or conversation is None or found["rerouted"]:
                continue
            # Claimed before sending on: a repeated report finds it taken.
            await tx.add_chat_event(
                conversation.id,
                found["author"],
                "undelivered",
                f"{outbound_id} {channel.value}",
                services.clock(),
            )
        route = await _outside_window(
            services,
            channels,
            conversation,
            found["author"],
            "staff.reply",
            found["text"],
            failed_on=channel,
        )
        async with services.store.transaction() as tx:
            await tx.add_chat_event(
                conversation.id,
                found["author"],
                "rerouted",
                f"{outbound_id} -> {route or 'nothing'}",
                services.clock(),
            )


async def note(
    services: Services, channels: Channels, conversation_id: int, staff: str, text: str
) -> None:
    """An internal note: staff see it in the transcript; the customer never does."""
    text = text.strip()
    if not text:
        raise ChatError("the note is empty", "note_empty")
    await _held(services, channels, conversation_id, staff)
    async with services.store.transaction() as tx:
        await tx.add_staff_note(conversation_id, staff, text[:MAX_REPLY], services.clock())


async def transfer(
    services: Services, channels: Channels, conversation_id: int, staff: str, to: str
) -> None:
    async with services.store.transaction() as tx:
        conversation = await _held(services, channels, conversation_id, staff, tx)
        target = await tx.staff_by_email(to.strip())
        if target is None or target["disabled_at"]:
            raise ChatError(f"no active staff account {to.strip()}", "no_staff")
        conversation.claimed_by = target["email"]
        await tx.save_conversation(conversation)
        await tx.add_chat_event(
            conversation_id, staff, "transfer", f"-> {target['email']}", services.clock()
        )


def canned(services: Services, language: str) -> dict[str, str]:
    """Ready answers staff can pick, in the customer's language."""
    texts = services.catalogue.texts.get(language, {})
    return {k.removeprefix("canned."): v for k, v in texts.items() if k.startswith("canned.")}


async def release(services: Services, channels: Channels, conversation_id: int, staff: str) -> None:
    async with services.store.transaction() as tx:
        conversation = await _held(services, channels, conversation_id, staff, tx)
        conversation.claimed_by = None
        conversation.waiting_staff_since = None
        conversation.state, conversation.slots = release_to_bot(
            conversation.state, conversation.slots
        )
        await tx.save_conversation(conversation)
        await tx.add_chat_event(conversation.id, staff, "release", "", services.clock())
    text = services.catalogue.render(conversation.language, Reply("staff.back_to_bot"))
    await _send(services, channels, conversation, staff, "staff.back_to_bot", text)
