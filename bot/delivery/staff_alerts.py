"""Announcing chats handed to staff in the staff Telegram group.

Hand-overs are rows written in the message's own transaction; this worker
posts the ones not yet announced, so an announcement survives a restart. It
says which chat, channel, language and why, and links to the console: never
who the customer is (a chat group is no place for personal data). Each
instance claims what it posts (for ``CLAIM``), so several instances post a
hand-over once. A crash between the post and its record can announce one
hand-over twice (after the claim runs out).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.delivery.channels import Channels
from bot.services import Services
from bot.store import claiming
from flows.types import Label, Reply

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
MAX_BACKOFF = 300.0
# After an outage, hand-overs older than this are not announced any more.
MAX_AGE = timedelta(hours=24)
# How long an instance has to post the hand-overs it claimed.
CLAIM = timedelta(minutes=2)
CLAIM_AT_ONCE = 20


class AnnounceFailed(Exception):
    """The staff group could not be reached; what is due stays due."""


async def announce_due(services: Services, channels: Channels) -> int:
    """Post what is due; how many were posted. Raises ``AnnounceFailed`` when
    the group cannot be reached (the rest wait for the next round)."""
    adapter = channels.staff_alerts()
    if adapter is None:
        return 0
    language = services.settings.default_language
    now = services.clock()
    # Claimed, so that with several instances each hand-over is posted by one;
    # a claim left by an instance that died runs out and another posts it.
    # (Side by side with conversations; claims skip each other's rows.)
    async with services.store.transaction(key=claiming()) as tx:
        pending = await tx.claim_escalations(now - MAX_AGE, now, now + CLAIM, CLAIM_AT_ONCE)
    posted = 0
    for i, e in enumerate(pending):
        if e.waiting:
            link = f"{services.settings.public_url.rstrip('/')}/console/chats/{e.conversation_id}"
            text = services.catalogue.render(
                language,
                Reply(
                    "staff_alert.escalated",
                    {
                        "chat": e.conversation_id,
                        "channel": Label(f"channel.{e.channel.value}"),
                        "language": e.language,
                        "reason": Label(f"staff_alert.reason.{e.reason}"),
                        "at": e.created_at,
                        "link": link,
                    },
                ),
            )
            try:
                await adapter.alert_staff(text, link)
            except Exception as exc:  # the rows stay due: tried again next round
                async with services.store.transaction() as tx:
                    await tx.release_escalations([later.id for later in pending[i:]])
                raise AnnounceFailed(type(exc).__name__) from exc
            posted += 1
        async with services.store.transaction() as tx:  # answered or gone back: nothing to say
            await tx.mark_announced(e.id, services.clock())
    return posted


async def run_announcer(
    services: Services, channels: Channels, every: float = POLL_SECONDS
) -> None:
    """Post hand-overs as they come; while the group cannot be reached (bot
    removed, wrong chat id, Telegram down) wait longer each time, up to
    5 minutes, and say so once per outage rather than every round."""
    wait = every
    while True:
        try:
            await announce_due(services, channels)
        except Exception as exc:  # keep going; the rows stay due
            if wait == every:
                log.error("staff announcements failing: %s", exc or type(exc).__name__)
            wait = min(MAX_BACKOFF, wait * 2)
        else:
            if wait != every:
                log.info("staff announcements work again")
            wait = every
        await asyncio.sleep(wait)
