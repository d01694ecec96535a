"""Which way a message reaches a customer: one policy for the bot's notices
and for messages from staff.

WhatsApp takes free-form messages only within 24 hours of the customer's
last message (``window_open``). Outside that window a message goes as an
approved template, when one is configured and the message fits it
(``first_route``); else it has no first route and goes on by the next one.
The channels after a failed (or closed) one are the same for every message
(``onward``): after WhatsApp, SMS to the same number (unless no SMS sender is
set up or the number opted out of SMS), then email (unless there is no
address to write to: a customer the bot forgot has none).

Notices and staff replies walk that order differently, on purpose: a notice
is a queued row, retried on its route with backoff, that moves to the next
route only once it is given up or reported undelivered; a staff reply is
sent at once and tries the next route straight away, because staff wait to
see whether it went. Which routes there are, and in what order, is decided
here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.delivery.channels import Channels
from bot.domain.models import Channel, ConversationRecord
from bot.services import Services
from bot.store import Transaction

WHATSAPP_WINDOW = timedelta(hours=24)
TEMPLATE = "whatsapp_template"  # a WhatsApp template: WhatsApp, outside the window
EMAIL = "email"

# The routes that may carry a message on after its channel failed, in order.
# SMS goes to the same number, so it only follows WhatsApp.
_ONWARD: dict[str, tuple[str, ...]] = {
    Channel.WHATSAPP.value: (Channel.SMS.value, EMAIL),
    TEMPLATE: (Channel.SMS.value, EMAIL),
    Channel.SMS.value: (EMAIL,),
    Channel.TELEGRAM.value: (EMAIL,),
}


@dataclass(frozen=True)
class Reach:
    """Which onward routes are open for one customer: whether SMS may carry
    a message to their number, and the email address to write to (None:
    none, e.g. the customer was forgotten, or the message never goes by
    email)."""

    sms: bool
    email: str | None


def window_open(conversation: ConversationRecord | None, now: datetime) -> bool:
    """Whether WhatsApp still allows free-form messages: the customer wrote
    within 24 hours (their conversation's last activity: kept even when a
    deletion has made the bot forget them)."""
    last = conversation.last_activity_at if conversation else None
    return last is not None and now - last < WHATSAPP_WINDOW


def first_route(channel: str, in_window: bool, template: bool) -> str | None:
    """The route a message for ``channel`` takes first: the channel itself,
    except WhatsApp outside the window: its template when ``template`` (one is
    configured and the message fits it), else no route there at all."""
    if channel != Channel.WHATSAPP.value or in_window:
        return channel
    return TEMPLATE if template else None


def onward(after: str, reach: Reach) -> list[str]:
    """The open routes after ``after`` (a channel, or the template), in order."""
    return [
        route
        for route in _ONWARD.get(after, ())
        if (route != Channel.SMS.value or reach.sms) and (route != EMAIL or reach.email)
    ]


async def reach(
    tx: Transaction,
    services: Services,
    channels: Channels,
    channel: str,
    address: str,
    email: str | None,
) -> Reach:
    """What is open after ``channel`` for the customer at ``address``;
    ``email`` None when there is none (a forgotten customer's is a digest)."""
    sms = (
        Channel.SMS.value in _ONWARD.get(channel, ())
        and bool(services.settings.twilio_sms_number)
        and channels.adapter_for(Channel.SMS) is not None
        and not await tx.is_opted_out(Channel.SMS, address)
    )
    return Reach(sms=sms, email=email)
