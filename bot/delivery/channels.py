"""What the server needs from a channel integration, and delivery of replies
the bot sends on its own initiative (not as the answer to a webhook).

Integrations implement ``ChannelAdapter``; the core never imports them.
``Channels`` holds the enabled adapters; what a message was sent as is
recorded here, by the core, not by the adapters: an adapter translates
replies into the provider's messages and says what each went out as
(``Sent``), and the core records a whole batch in one transaction.

Crash safety: an adapter that fails after part of a batch left raises
``PartialDelivery`` with what did leave, so that part is recorded as sent
(not sent twice by a retry) before the failure is handled. A process that
dies mid-batch records nothing of it: the batch goes again, a rare copy
rather than a lost message (neither Twilio nor Telegram takes an
idempotency key).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import defaultdict
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.routing import BaseRoute

from bot.domain.models import Channel, OutboundMessage
from bot.services import Services
from bot.store import claiming

log = logging.getLogger(__name__)


# How long an instance has to send the replies it claimed, and how often another
# instance waiting for them looks whether they left.
CLAIM = timedelta(seconds=60)
CLAIM_POLL = 0.05

# Channels with no push: the customer's own program fetches what waits for them.
PULLED_CHANNELS = (Channel.TERMINAL,)


class DeliveryRefused(Exception):
    """The provider refused a message for good (blocked, invalid number...):
    retrying cannot help."""


@dataclass(frozen=True)
class Sent:
    """A reply that left whole, and the provider's id of the message that
    carried it (of its last part, when it took several; None when the
    provider gives none, e.g. a webhook's inline answer)."""

    reply: OutboundMessage
    provider_id: str | None = None


class PartialDelivery(Exception):
    """An adapter failed after some replies of a batch had left: ``sent`` are
    those, which the core records before it handles ``cause`` (raised on as
    it was, so a refusal or a rate limit is still told apart)."""

    def __init__(self, sent: Sequence[Sent], cause: Exception) -> None:
        super().__init__(f"{len(sent)} sent before {type(cause).__name__}")
        self.sent = list(sent)
        self.cause = cause


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
    async def send(self, replies: Sequence[OutboundMessage]) -> list[Sent]:
        """Send replies to their customer, in order; records nothing (the core
        does). Returns what each reply left as. On a failure after some replies
        left whole, raise ``PartialDelivery`` with those; else the failure."""

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
        self._background: set[asyncio.Task[Any]] = set()

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

    def soon(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` in the background (a queued mail sent at once after
        its commit): nobody waits on it, and what it leaves undone stays
        queued for the outbox worker."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def flush(self) -> None:
        """Wait for the background work (at shutdown, and in tests)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def send(self, adapter: ChannelAdapter, replies: Sequence[OutboundMessage]) -> list[Sent]:
        """Send the replies not sent yet through ``adapter`` and record, in one
        transaction, what left; what left before a failure is recorded too,
        then the failure raised.

        Recorded replies are claimed first (``claim_replies``): when one
        update reaches two instances at once, the one that claimed its
        replies sends them, and the other waits until they are sent (or
        sends them itself if the first gave them back or died)."""
        waiting = [reply for reply in replies if not reply.sent]
        sent: list[Sent] = []
        give_up = asyncio.get_running_loop().time() + CLAIM.total_seconds()
        while waiting:
            ids = [r.id for r in waiting if r.id is not None]
            now = self.services.clock()
            async with self.services.store.transaction(key=claiming()) as tx:
                mine = set(await tx.claim_replies(ids, now, now + CLAIM))
            going = [r for r in waiting if r.id is None or r.id in mine]
            if going:
                sent += await self._send_claimed(adapter, going)
            waiting = [r for r in waiting if r.id is not None and r.id not in mine]
            if not waiting:
                break
            async with self.services.store.transaction(readonly=True) as tx:
                held, free = await tx.unsent_replies([r.id for r in waiting], now)  # type: ignore[misc]
            waiting = [r for r in waiting if r.id in held or r.id in free]
            if waiting and asyncio.get_running_loop().time() > give_up:
                log.warning("replies claimed by another instance not sent within the claim")
                break
            if waiting and not free:
                await asyncio.sleep(CLAIM_POLL)  # another instance is sending them
        return sent

    async def _send_claimed(
        self, adapter: ChannelAdapter, replies: Sequence[OutboundMessage]
    ) -> list[Sent]:
        try:
            sent = await adapter.send(replies)
        except PartialDelivery as exc:
            await self.record(exc.sent)
            await self._release(replies, exc.sent)
            raise exc.cause from None
        except BaseException:
            await self._release(replies, [])
            raise
        await self.record(sent)
        return sent

    async def _release(self, replies: Sequence[OutboundMessage], sent: Sequence[Sent]) -> None:
        """Claimed replies that did not leave: free for the next try at once."""
        left = {s.reply.id for s in sent}
        unsent = [r.id for r in replies if r.id is not None and r.id not in left]
        if unsent:
            async with self.services.store.transaction(key=claiming()) as tx:
                await tx.release_replies(unsent)  # type: ignore[arg-type]

    async def answered(self, replies: Sequence[OutboundMessage]) -> None:
        """Record the replies an adapter put in its answer to the provider's
        webhook (Twilio's TwiML), which the provider sends: no id of theirs yet,
        the delivery reports bring it. Done before the answer goes, so a
        repeated webhook finds them sent."""
        await self.record([Sent(reply) for reply in replies if not reply.sent])

    async def record(self, sent: Sequence[Sent]) -> None:
        """Record, in one transaction, that these replies left."""
        if any(s.reply.id is not None for s in sent):
            await record_sent(self.services, sent)

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
                await self.send(adapter, items)
            except Exception as exc:  # keep serving; the rows stay unsent
                log.error("sending on %s failed: %s", channel, type(exc).__name__)
                ok = False
        return ok


async def opted_out(services: Services, channel: Channel, address: str) -> bool:
    async with services.store.transaction(readonly=True) as tx:
        return await tx.is_opted_out(channel, address)


async def record_sent(services: Services, sent: Sequence[Sent]) -> None:
    """Record, in one transaction, that these replies left, each with the
    provider's id for its delivery reports. Messages that are no recorded
    reply (a notification's text) have no id and nothing to record here."""
    recorded = [s for s in sent if s.reply.id is not None]
    if not recorded:
        return
    async with services.store.transaction() as tx:
        now = services.clock()
        for s in recorded:
            assert s.reply.id is not None
            await tx.mark_sent(s.reply.id, s.provider_id, now)
