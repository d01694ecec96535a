"""Notifications that always arrive: an outbox in the database and its worker.

A notification is written in the same transaction as the action that causes
it, so an action without its notification cannot be committed. The worker
claims due rows (a lease, so two workers do not send the same one), sends
them, and records the result; failures are retried with exponential backoff
and jitter (about 1 s, doubling, at most 5 minutes apart) and given up after
48 hours, when the request is flagged for staff.

Which route a notice takes (the WhatsApp window, a template, then SMS and
email) is ``bot.delivery.routes``, shared with staff replies.

Idempotency: each notification has a key, so re-running an action (a retried
transaction) cannot queue it twice. Sending can still repeat in one case: a
crash after the provider accepted a message and before the row says so.
Neither Twilio's Messages API nor Telegram's sendMessage accepts an
idempotency key, so that rare copy cannot be prevented there; emails carry a
Message-ID derived from the key, which lets mail clients fold duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import date, datetime, timedelta
from typing import Any

from bot.delivery.channels import Channels, DeliveryRefused
from bot.delivery.mail_outbox import ArmCode, send_due_mail
from bot.delivery.routes import EMAIL, TEMPLATE, first_route, onward, reach, window_open
from bot.domain.errors import Refused
from bot.domain.models import Channel, Notification, OutboundMessage
from bot.infra.catalogue import Catalogue
from bot.infra.crypto import Keyring
from bot.infra.mail import Mail, html_page
from bot.services import Services
from bot.store import Transaction, claiming
from flows.types import Label, Reply

log = logging.getLogger(__name__)


class OutsideWindow(DeliveryRefused):
    """WhatsApp's 24-hour window is closed and no template is configured."""


FIRST_RETRY = 1.0  # seconds
MAX_RETRY = 300.0
GIVE_UP_AFTER = timedelta(hours=48)
POLL_SECONDS = 1.0


def render(services: Services, n: Notification) -> tuple[str, str]:
    """(subject, text) of a notification in the customer's language."""
    catalogue, keyring = services.catalogue, services.keyring
    params = _params(n, keyring)
    subject = catalogue.render(n.language, Reply("mail.notify.subject", params))
    return subject, render_text(catalogue, keyring, n)


def render_text(catalogue: Catalogue, keyring: Keyring, n: Notification) -> str:
    key = f"notify.completed.{n.params['type']}" if n.kind == "completed" else f"notify.{n.kind}"
    if n.kind == "completed" and "download_url" in n.params:
        key = "notify.completed.access_download"
    return catalogue.render(n.language, Reply(key, _params(n, keyring)))


def _opened(n: Notification, keyring: Keyring) -> dict[str, Any]:
    """The notification's parameters, the download link (sealed by
    ``complete_access``) opened only now; staff's words are never taken for it."""
    params = dict(n.params)
    if isinstance(params.get("download_url"), str):
        params["download_url"] = keyring.open_text(params["download_url"])
    return params


def _params(n: Notification, keyring: Keyring) -> dict[str, Any]:
    params = _opened(n, keyring)
    params["type"] = Label(f"type.{params['type']}")
    for name in ("due_date", "until"):
        if name in params:
            params[name] = date.fromisoformat(params[name])
    return params


async def send_due(services: Services, channels: Channels, limit: int = 50) -> int:
    """Send what is due now; returns how many were sent."""
    now = services.clock()
    lease = timedelta(seconds=services.settings.outbox_lease_seconds)
    held = now + lease
    async with services.store.transaction(key=claiming()) as tx:
        due = await tx.due_notifications(now, limit)  # not terminal: `privacybot chat` shows those
        # Claim them: another worker leaves them alone meanwhile.
        due = [n for n in due if await tx.lease_notification(n.id, n.next_attempt_at, held)]
    sent, wiped = 0, False
    for n in due:
        # Renewed before each row: a long batch would otherwise outlast the
        # lease, and another worker send the same notice too. A row whose lease
        # ran out and went to another worker is that worker's now: skipped, not
        # sent twice.
        async with services.store.transaction(key=f"notification:{n.id}") as tx:
            if not await tx.lease_notification(n.id, held, services.clock() + lease):
                continue
        try:
            provider_id = await _deliver(services, channels, n)
        except Exception as exc:
            await _failed(services, channels, n, exc, permanent=isinstance(exc, DeliveryRefused))
            continue
        async with services.store.transaction() as tx:
            wiped_now = await tx.notification_sent(n.id, provider_id, services.clock())
            wiped = wiped_now or wiped
            # The provider may have reported it undelivered before this commit
            # (the report found no notification then): apply that report now.
            if provider_id and await tx.reported_undelivered(provider_id):
                await _undelivered(tx, services, channels, n, services.clock())
        sent += 1
        if wiped_now and n.channel == "email":
            services.mailer.forget(n.address)  # the development mail file of that last notice, too
    if wiped:  # a forgotten customer's last address: off every file on disk too
        await services.store.scrub_wal()
    return sent


async def _deliver(services: Services, channels: Channels, n: Notification) -> str | None:
    subject, text = render(services, n)
    if n.channel == "email":
        await services.mailer.send(
            Mail(
                to=n.address,
                subject=subject,
                text=text + "\n\nJOVA POS",
                html=html_page(text.split("\n\n")),
                language=n.language,
                message_key=n.idempotency_key,
            )
        )
        return None
    channel = Channel(n.channel)
    adapter = channels.adapter_for(channel)
    if adapter is None:
        raise RuntimeError(f"{channel.value} is not enabled")
    template = services.settings.twilio_templates.get(n.kind)
    in_window = channel is not Channel.WHATSAPP or await _in_window(services, n)
    route = first_route(n.channel, in_window, bool(template))
    if route is None:  # refused for good: the notice goes on by the next route
        raise OutsideWindow("no template for this notification")
    if route == TEMPLATE and template:
        variables = _template_variables(n, services.keyring)
        return await adapter.send_template(n.address, template, variables)
    sent = await channels.send(
        adapter, [OutboundMessage(channel, n.address, f"notify.{n.kind}", text, n.language)]
    )
    return sent[0].provider_id if sent else None


async def delivery_failed(services: Services, channels: Channels, provider_id: str) -> None:
    """The provider reported a notification it had accepted as failed or
    undelivered: it goes on by the next channel."""
    async with services.store.transaction() as tx:
        n = await tx.notification_by_provider(provider_id)
        if n is None:
            # A reply in a conversation, or a notification whose send is not
            # recorded yet: ``send_due`` applies the report when it is.
            return
        await _undelivered(tx, services, channels, n, services.clock())


async def _undelivered(
    tx: Transaction, services: Services, channels: Channels, n: Notification, now: datetime
) -> None:
    await tx.notification_failed(n.id, "undelivered", None, now)
    if not await _fallback(tx, services, channels, n, now):
        await tx.flag_request(n.reference)
        await tx.add_request_event(
            n.reference,
            "system",
            "notification_failed",
            {"kind": n.kind, "channel": n.channel, "error": "undelivered"},
            now,
        )


async def _in_window(services: Services, n: Notification) -> bool:
    async with services.store.transaction(readonly=True) as tx:
        record = await tx.get_request(n.reference)
        conversation = await tx.get_conversation_by_id(record.conversation_id) if record else None
    return window_open(conversation, services.clock())


def _template_variables(n: Notification, keyring: Keyring) -> dict[str, str]:
    """Template variables by position: 1 reference, 2 due date, 3 reason or message."""
    p = _opened(n, keyring)
    return {
        "1": p.get("reference", ""),
        "2": p.get("until") or p.get("due_date", ""),
        "3": p.get("reason") or p.get("message") or p.get("download_url") or "",
    }


async def _fallback(
    tx: Transaction, services: Services, channels: Channels, n: Notification, now: datetime
) -> str | None:
    """Queue the notification on the next open route (``routes.onward``: after
    WhatsApp, SMS then email; by email to the request's address). Returns the
    channel, None when no route is left."""
    record = await tx.get_request(n.reference)
    if record is None:
        return None
    routes = onward(
        n.channel,
        await reach(
            tx,
            services,
            channels,
            n.channel,
            n.address,
            None if record.forgotten else record.email,
        ),
    )
    if not routes:
        return None
    channel = routes[0]
    address = record.email if channel == EMAIL else n.address
    key = f"{n.idempotency_key}>{channel}"
    await tx.enqueue_notification(
        n.reference, n.kind, channel, address, n.language, n.params, key, now, n.created_at
    )
    return channel


async def _failed(
    services: Services, channels: Channels, n: Notification, exc: Exception, permanent: bool
) -> None:
    now = services.clock()
    give_up = permanent or now - n.created_at >= GIVE_UP_AFTER
    # The first retry after about a second, then doubling, with jitter.
    wait = min(MAX_RETRY, FIRST_RETRY * 2**n.attempts * random.uniform(0.8, 1.2))
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float):
        wait = max(wait, float(retry_after))
    log.warning(
        "notification %s on %s failed (%s)%s",
        n.id,
        n.channel,
        type(exc).__name__,
        "; giving up" if give_up else f"; retry in {wait:.0f} s",
    )
    async with services.store.transaction() as tx:
        wiped = await tx.notification_failed(
            n.id, type(exc).__name__, None if give_up else now + timedelta(seconds=wait), now
        )
        if give_up and (next_channel := await _fallback(tx, services, channels, n, now)):
            log.info("notification %s goes on by %s instead", n.id, next_channel)
        elif give_up:
            await tx.flag_request(n.reference)
            await tx.add_request_event(
                n.reference,
                "system",
                "notification_failed",
                {"kind": n.kind, "channel": n.channel, "error": type(exc).__name__},
                now,
            )
    if wiped:  # a forgotten customer's undeliverable last notice keeps no address either
        await services.store.scrub_wal()


class RetryRefused(Refused):
    """A notification is not sent again: it is not this request's
    (``no_notification``), it has not failed (``not_failed``: queued, being
    retried or sent), it was retried already (``already_retried``), or its
    address is gone with a forgotten customer (``no_address``)."""


RETRY_SUFFIX = "~retry"


async def retry_notification(
    services: Services, reference: str, notification_id: int, actor: str
) -> None:
    """Send a failed (given-up) notification again, on the same channel to the
    same address, as a new row of the outbox: the failed one stays as the
    record of what happened, and the retry is kept in the request's history.
    Its key derives from the failed one's, so retrying it twice queues once."""
    now = services.clock()
    async with services.store.transaction() as tx:
        n = await tx.get_notification(notification_id)
        if n is None or n.reference != reference:
            raise RetryRefused("no_notification")
        if n.status != "given_up":
            raise RetryRefused("not_failed")
        if not n.address:
            raise RetryRefused("no_address")
        key = n.idempotency_key + RETRY_SUFFIX
        if not await tx.enqueue_notification(
            reference, n.kind, n.channel, n.address, n.language, n.params, key, now
        ):
            raise RetryRefused("already_retried")
        await tx.add_request_event(
            reference, actor, "notification_retried", {"kind": n.kind, "channel": n.channel}, now
        )


async def run_worker(
    services: Services, channels: Channels, arm: ArmCode, every: float = POLL_SECONDS
) -> None:
    """Notifications and queued mail, every ``every`` seconds; ``arm`` arms a
    chat code before its mail goes (the conversation owns codes)."""
    while True:
        try:
            await send_due(services, channels)
            await send_due_mail(services, arm=arm)  # code mails a dead process left queued
        except Exception as exc:  # keep the worker alive; the rows stay queued
            log.error("notification worker: %s", type(exc).__name__)
        await asyncio.sleep(every)
