"""Announcing chats handed to staff in the staff Telegram group.

Hand-overs are rows written in the message's own transaction; this worker
posts the ones not yet announced, so an announcement survives a restart. It
says which chat, channel, language and why, and links to the console: never
who the customer is (a chat group is no place for personal data). A crash
between the post and its record can announce one hand-over twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.delivery.channels import Channels
from bot.services import Services
from flows.types import Label, Reply

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
MAX_BACKOFF = 300.0
# After an outage, hand-overs older than this are not announced any more.
MAX_AGE = timedelta(hours=24)


class AnnounceFailed(Exception):
    """The staff group could not be reached; what is due stays due."""


async def announce_due(services: Services, channels: Channels) -> int:
    """Post what is due; how many were posted. Raises ``AnnounceFailed`` when
    the group cannot be reached (the rest wait for the next round)."""
    adapter = channels.staff_alerts()
    if adapter is None:
        return 0
    language = services.settings.default_language
    async with services.store.transaction(readonly=True) as tx:
        pending = await tx.unannounced_escalations(services.clock() - MAX_AGE)
    posted = 0
    for e in pending:
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
            except Exception as exc:  # the row stays due: tried again later
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
