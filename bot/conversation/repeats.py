"""A message delivered again: answered with the replies recorded the first
time, and only to the sender who sent it then."""

from __future__ import annotations

import logging

from bot.domain.models import Channel, OutboundMessage
from bot.services import Services
from bot.store import Transaction

log = logging.getLogger(__name__)


class ForeignRepeat(Exception):
    """A message id already recorded for another sender of the channel: a
    forgery or a provider's mistake. Refused (HTTP 400; Telegram: dropped)."""


async def recorded_answer(
    services: Services,
    tx: Transaction,
    channel: Channel,
    address: str,
    seen: int,
    sender: str | None,
) -> list[OutboundMessage]:
    """The replies recorded for message ``seen`` (from ``sender``) repeated by ``address``."""
    if sender != address:
        # Neither address is logged: both are customers' phone numbers or chats.
        log.warning("refused a message id already used by another sender on %s", channel.value)
        raise ForeignRepeat(channel.value)
    return [
        OutboundMessage(
            channel,
            address,
            r.key,
            services.keyring.open_text(r.text) if r.sealed else r.text,
            r.language,
            r.id,
            r.buttons,
            r.state,
            r.sent,
        )
        for r in await tx.replies_to(seen)
    ]
