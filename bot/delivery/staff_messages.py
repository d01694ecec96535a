"""Messages from staff to a customer whose chat they hold: how each goes.

Staff replies and the join/leave notices are recorded as the conversation's
outbound messages, then delivered by the routes of ``bot.delivery.routes``,
the policy notices follow too. On the customer's channel while it takes
free-form messages; past WhatsApp's 24-hour window, as the approved template
for staff replies (``TWILIO_TEMPLATE_STAFF_REPLY``, the reply as its
variable 1), else by SMS to the same number, else (replies only, not the
notices) by email to the verified address of the customer's latest request.

Unlike a notice, which is queued and retried, a staff reply is sent at once
and tries the next route straight away: staff wait to see whether it went.
The email route is the exception that is queued: it goes through the durable
mail outbox, so a process that dies after "sent by email" still sends it.
The route taken is noted in the transcript; a provider's report that a reply
was not delivered sends it on by the routes after the one that failed.
"""

from __future__ import annotations

import dataclasses
import logging

from bot.delivery.channels import PULLED_CHANNELS, Channels, Sent
from bot.delivery.mail_outbox import queue_mail, send_queued
from bot.delivery.notifications import GIVE_UP_AFTER
from bot.delivery.routes import EMAIL, TEMPLATE, first_route, onward, reach, window_open
from bot.domain.models import Channel, ConversationRecord, OutboundMessage
from bot.infra.mail import Mail, html_page
from bot.services import Services
from flows.types import Label, Reply

log = logging.getLogger(__name__)

REPLY = "staff.reply"
TEMPLATE_VARIABLE_LIMIT = 1000  # WhatsApp's template body is at most 1,024 characters


async def send_staff_message(
    services: Services,
    channels: Channels,
    conversation: ConversationRecord,
    staff: str,
    key: str,
    text: str,
) -> str | None:
    """Record and deliver one message from staff; the route it took (a
    channel, ``whatsapp_template`` or ``email``; ``queued`` where the customer
    fetches it), or None when it could not go (it stays recorded, unsent)."""
    channel = conversation.channel.value
    template = _template(services, channels, text)
    route = first_route(channel, window_open(conversation, services.clock()), template)
    if route == channel:
        outbound = await _record(services, conversation, staff, key, text)
        if not await channels.deliver([outbound], proactive=False):
            return None
        return "queued" if conversation.channel in PULLED_CHANNELS else channel
    # The 24-hour window was closed: the template or the next routes, noted.
    routes = [route] if route else []
    taken = await _by_routes(services, channels, conversation, staff, key, text, routes, channel)
    if taken is not None:
        async with services.store.transaction() as tx:
            await tx.add_chat_event(
                conversation.id, staff, "outside_window", f"{key} -> {taken}", services.clock()
            )
    return taken


async def undelivered(
    services: Services, channels: Channels, outbound_ids: list[int], channel: Channel
) -> None:
    """The provider reports staff replies it could not deliver on ``channel``:
    each goes on by the routes after it (WhatsApp, then SMS, then email), once,
    as notifications do. Notices (joined, back to the bot) are not re-sent."""
    for outbound_id in outbound_ids:
        async with services.store.transaction() as tx:
            found = await tx.staff_reply(outbound_id)
            conversation = await tx.get_conversation_by_id(found.conversation_id) if found else None
            if found is None or conversation is None or found.rerouted:
                continue
            # Claimed before sending on: a repeated report finds it taken.
            await tx.add_chat_event(
                conversation.id,
                found.author,
                "undelivered",
                f"{outbound_id} {channel.value}",
                services.clock(),
            )
        route = await _by_routes(
            services,
            channels,
            conversation,
            found.author,
            REPLY,
            found.text,
            [],
            channel.value,
        )
        async with services.store.transaction() as tx:
            await tx.add_chat_event(
                conversation.id,
                found.author,
                "rerouted",
                f"{outbound_id} -> {route or 'nothing'}",
                services.clock(),
            )


def template_text(text: str) -> str | None:
    """The reply as a WhatsApp template variable: Meta refuses new lines, tabs
    and runs of more than four spaces there, and long values. None when it
    does not fit (the reply then goes by SMS or email, whole)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= TEMPLATE_VARIABLE_LIMIT else None


def _template(services: Services, channels: Channels, text: str) -> bool:
    """Whether a staff reply could go as the WhatsApp template."""
    return bool(
        services.settings.twilio_templates.get("staff_reply")
        and channels.adapter_for(Channel.WHATSAPP) is not None
        and template_text(text) is not None
    )


async def _record(
    services: Services, conversation: ConversationRecord, staff: str, key: str, text: str
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


async def _by_routes(
    services: Services,
    channels: Channels,
    conversation: ConversationRecord,
    staff: str,
    key: str,
    text: str,
    first: list[str],
    after: str,
) -> str | None:
    """Record the message and try ``first``, then the open routes after
    ``after``, until one takes it; that route, or None."""
    message = await _record(services, conversation, staff, key, text)
    async with services.store.transaction(readonly=True) as tx:
        email = (
            await tx.latest_request_email(conversation.channel, conversation.address)
            if key == REPLY
            else None
        )
        open_routes = await reach(tx, services, channels, after, conversation.address, email)
    for route in [*first, *onward(after, open_routes)]:
        if route == TEMPLATE and await _as_template(services, channels, message):
            return route
        if route == Channel.SMS.value:
            sms = dataclasses.replace(message, channel=Channel.SMS)
            if await channels.deliver([sms], proactive=False):
                return route
        if route == EMAIL and open_routes.email:
            await _queue_email(services, channels, conversation, message, open_routes.email)
            return route
    return None


async def _as_template(services: Services, channels: Channels, message: OutboundMessage) -> bool:
    """Send a staff reply as the WhatsApp template; False when that failed."""
    template = services.settings.twilio_templates.get("staff_reply")
    whatsapp = channels.adapter_for(Channel.WHATSAPP)
    variable = template_text(message.text)
    if not template or whatsapp is None or variable is None:
        return False
    try:
        sid = await whatsapp.send_template(
            message.address, template, {"1": variable}, carries=message
        )
    except Exception as exc:  # refused, rate-limited or down: the next route
        log.warning("staff reply template not sent: %s", type(exc).__name__)
        return False
    await channels.record([Sent(message, sid)])
    return True


async def _queue_email(
    services: Services,
    channels: Channels,
    conversation: ConversationRecord,
    message: OutboundMessage,
    to: str,
) -> None:
    """Queue the reply by email in the outbox, then send it at once in the
    background: the message is marked sent when the mail goes."""
    footer = services.catalogue.render(
        conversation.language,
        Reply(
            "mail.staff_reply.footer",
            {"channel": Label(f"channel.{conversation.channel.value}")},
        ),
    )
    mail = Mail(
        to=to,
        subject=services.catalogue.text(conversation.language, "mail.staff_reply.subject"),
        text=f"{message.text}\n\n{footer}\n\nJOVA POS",
        html=html_page([message.text, footer]),
        language=conversation.language,
        message_key=f"staff-reply:{message.id}",
    )
    now = services.clock()
    async with services.store.transaction() as tx:
        queued = await queue_mail(
            tx, services, "staff_reply", mail, now, now + GIVE_UP_AFTER, carries=message.id
        )
    if queued is not None:
        channels.soon(send_queued(services, [queued]))
