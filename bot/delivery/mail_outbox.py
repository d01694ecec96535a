"""Mail that follows a committed step, through a durable outbox.

A code mail (the chat's email code, the download page's code) or a staff
reply going by email is written in the same transaction as the step that
promises it ("we sent you a code", "sent by email"), so a process that dies
right after the commit loses nothing: the outbox worker (beside the
notifications' one) sends it after a restart. A mail that stands for a
recorded message (a staff reply) marks that message sent in the transaction
that takes the mail off the outbox. The row holds the
mail sealed with the keyring; a copy of the database alone opens no code.

After its commit the step also starts sending at once, in the background, so
no reply waits on the account directory or the mailer (a registered email
must not answer slower than an unknown one). A lease keeps that send and the
worker from sending one row twice; a crash after the mailer accepted and
before the row went can still repeat a mail, whose Message-ID (derived from
the row's key) lets mail clients fold the copy.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from bot.infra.mail import Mail
from bot.services import Services
from bot.store import Transaction, claiming

log = logging.getLogger(__name__)

ArmCode = Callable[[dict[str, Any]], Awaitable[bool]]
FIRST_RETRY = 1.0  # seconds, doubling, with jitter
MAX_RETRY = 60.0


async def queue_mail(
    tx: Transaction,
    services: Services,
    kind: str,
    mail: Mail,
    now: datetime,
    expires_at: datetime,
    arm: dict[str, Any] | None = None,
    carries: int | None = None,
) -> int | None:
    """Queue ``mail`` in the caller's transaction. ``arm`` (chat codes): what
    ``codes.arm_code`` needs to check the address and arm the code before
    the mail may go. ``carries``: the recorded outbound message the mail
    stands for, marked sent when it goes. Returns the row's id (None if the
    key was queued)."""
    assert mail.message_key, "an outbox mail needs its key"
    payload = {"mail": asdict(mail), "arm": arm, "carries": carries}
    sealed = services.keyring.seal_text(json.dumps(payload))
    return await tx.enqueue_mail(kind, sealed, mail.message_key, now, expires_at)


async def send_due_mail(
    services: Services,
    ids: list[int] | None = None,
    limit: int = 50,
    *,
    arm: ArmCode | None = None,
) -> int:
    """Send the due mail (only ``ids``, if given); returns how many were sent.
    ``arm`` (handed in by the conversation, which owns codes) arms a chat code
    before its mail goes; without it such a mail is left to a caller that has it."""
    now = services.clock()
    lease = timedelta(seconds=services.settings.outbox_lease_seconds)
    held = now + lease
    async with services.store.transaction(key=claiming()) as tx:
        claimed = await tx.claim_mail(now, held, limit, ids)
    sent = 0
    for row in claimed:
        # Renewed before each row: a slow batch (mailer, account directory)
        # would otherwise outlast the lease, and another worker send the same
        # mail too. A row whose lease ran out and went to another worker is
        # that worker's now: skipped, not sent twice.
        # (Each row's bookkeeping is its own: beside conversations, across instances.)
        async with services.store.transaction(key=f"mail:{row.id}") as tx:
            if not await tx.lease_mail(row.id, held, services.clock() + lease):
                continue
        if services.clock() >= row.expires_at:
            await _done(services, row.id)  # the code expired meanwhile: nobody can use it
            continue
        carries = None
        try:
            payload = json.loads(services.keyring.open_text(row.sealed))
            carries = payload.get("carries")
            if payload["arm"] is not None and arm is None:
                continue  # leased for a moment; the worker, which can arm it, sends it
            if payload["arm"] is not None and not await arm(payload["arm"]):
                await _done(services, row.id)  # not eligible, over its limit, or replaced
                continue
            await services.mailer.send(Mail(**payload["mail"]))
        except Exception as exc:  # the worker tries again, until the code expires
            wait = min(MAX_RETRY, FIRST_RETRY * 2**row.attempts * random.uniform(0.8, 1.2))
            log.warning("%s mail failed (%s); retry in %.0f s", row.kind, type(exc).__name__, wait)
            async with services.store.transaction(key=f"mail:{row.id}") as tx:
                await tx.mail_failed(
                    row.id, type(exc).__name__, services.clock() + timedelta(seconds=wait)
                )
            continue
        await _done(services, row.id, carries)
        sent += 1
    return sent


async def send_queued(services: Services, ids: list[int]) -> None:
    """Send these queued mails now (in the background after their commit);
    what fails stays queued for the outbox worker."""
    try:
        await send_due_mail(services, ids)
    except Exception as exc:
        log.warning("queued mail left to the outbox worker: %s", type(exc).__name__)


async def _done(services: Services, id: int, carries: int | None = None) -> None:
    async with services.store.transaction(key=f"mail:{id}") as tx:
        await tx.mail_done(id)
        if carries is not None:
            await tx.mark_sent(carries, None, services.clock())
