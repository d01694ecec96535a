"""What the server needs from a channel integration, and delivery of replies
the bot sends on its own initiative (not as the answer to a webhook).

Integrations implement ``ChannelAdapter``; the core never imports them.
``Channels`` holds the enabled adapters; what a message was sent as is
recorded here, by the core, not by the adapters.
"""

from __future__ import annotations

import abc
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute

from bot.domain.models import Channel, OutboundMessage
from bot.services import Services

log = logging.getLogger(__name__)


# Channels with no push: the customer's own program fetches what waits for them.
PULLED_CHANNELS = (Channel.TERMINAL,)


class DeliveryRefused(Exception):
    """The provider refused a message for good (blocked, invalid number...):
    retrying cannot help."""


class ChannelAdapter(abc.ABC):
    """One outside messaging system (Twilio, Telegram...)."""

    name: str
    channels: tuple[Channel, ...]

    def routes(self) -> list[BaseRoute]:
        return []

    async def start(self) -> None:  # noqa: B027 - most adapters need no start
        """Begin receiving (e.g. start polling); called once the engine is open."""

    async def stop(self) -> None:  # noqa: B027
        """Stop receiving and release connections."""

    @abc.abstractmethod
    async def send(self, replies: Sequence[OutboundMessage]) -> list[str]:
        """Send replies to their customer and mark each sent; raise on failure.
        Returns the provider's ids of the messages sent."""

    async def send_template(
        self,
        address: str,
        template: str,
        variables: dict[str, str],
        carries: OutboundMessage | None = None,
    ) -> str | None:
        """Send an approved message template (channels that have them); the
        provider's id of the message. ``carries``: the recorded message it
        stands for, so a delivery report finds it."""
        raise DeliveryRefused(f"{self.name} has no message templates")

    @property
    def alerts_staff(self) -> bool:
        """Whether ``alert_staff`` reaches a staff group (configured to)."""
        return False

    async def alert_staff(self, text: str, link: str) -> None:
        """Tell the staff group something, with a link to the console."""
        raise DeliveryRefused(f"{self.name} has no staff group")

    def status(self) -> dict[str, Any]:
        return {"enabled": True}


class Channels:
    """The enabled channel adapters, found by channel."""

    def __init__(self, adapters: Sequence[ChannelAdapter] = ()) -> None:
        self.adapters: list[ChannelAdapter] = list(adapters)
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the services are not open")
        return self._services

    def attach(self, services: Services | None) -> None:
        """The services, once the server's lifespan opened them (adapters and
        their routes exist before that)."""
        self._services = services

    def adapter_for(self, channel: Channel) -> ChannelAdapter | None:
        return next((a for a in self.adapters if channel in a.channels), None)

    def staff_alerts(self) -> ChannelAdapter | None:
        return next((a for a in self.adapters if a.alerts_staff), None)

    async def deliver(self, replies: Sequence[OutboundMessage], proactive: bool) -> bool:
        """Send replies that are not sent yet through their channel's adapter.

        ``proactive`` messages (the bot speaking first) are not sent to customers
        who opted out; answers to something the customer just did always are.
        Returns False when some could not be sent (they stay recorded as unsent).
        """
        pending: dict[Channel, list[OutboundMessage]] = defaultdict(list)
        for reply in replies:
            if reply.sent:
                continue
            if proactive and await opted_out(self.services, reply.channel, reply.address):
                log.info("not sending to an opted-out customer on %s", reply.channel)
                continue
            pending[reply.channel].append(reply)
        ok = True
        for channel, items in pending.items():
            if channel in PULLED_CHANNELS:
                # Queued: they stay recorded unsent, and the customer's next
                # `privacybot chat` shows them, as it shows notifications.
                log.info("%d messages wait for the customer on %s", len(items), channel.value)
                continue
            adapter = self.adapter_for(channel)
            if adapter is None:
                log.error(
                    "no enabled adapter for channel %s; %d replies unsent", channel, len(items)
                )
                ok = False
                continue
            try:
                await adapter.send(items)
            except Exception as exc:  # keep serving; the rows stay unsent
                log.error("sending on %s failed: %s", channel, type(exc).__name__)
                ok = False
        return ok


async def opted_out(services: Services, channel: Channel, address: str) -> bool:
    async with services.store.transaction(readonly=True) as tx:
        return await tx.is_opted_out(channel, address)


async def mark_sent(
    services: Services, reply: OutboundMessage, provider_id: str | None = None
) -> None:
    """Record that ``reply`` left, with the provider's id for its delivery reports."""
    if reply.id is None:
        return
    async with services.store.transaction() as tx:
        await tx.mark_sent(reply.id, provider_id, services.clock())
