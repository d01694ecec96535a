"""Delivery reports: what the provider says became of a message it accepted.

Adapters translate the provider's report and hand it here; the core records
it for every message it names and, when the message failed, sends it on by
the next route (a notice by the next channel, a staff reply by template, SMS
or email).
"""

from __future__ import annotations

from bot.delivery.channels import Channels
from bot.delivery.notifications import delivery_failed
from bot.delivery.staff_messages import undelivered
from bot.domain.models import Channel
from bot.services import Services

FAILED = ("failed", "undelivered")


async def delivery_report(
    services: Services,
    channels: Channels,
    provider_id: str,
    state: str,
    error_code: str | None,
    outbound_ids: list[int],
    channel: Channel,
) -> None:
    """Record one report; ``outbound_ids`` are the recorded replies the message
    carried (none for a notification, found by its provider id)."""
    async with services.store.transaction() as tx:
        for outbound_id in outbound_ids or [None]:
            await tx.record_delivery(provider_id, state, error_code, services.clock(), outbound_id)
    if state in FAILED:
        await delivery_failed(services, channels, provider_id)
        await undelivered(services, channels, outbound_ids, channel)
