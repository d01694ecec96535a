"""Queueing a notice for a request's customer: the outbox write.

It runs inside the transaction of the act that causes it (filed, delayed,
completed...), so the notice exists exactly when the act does; the delivery
worker sends it later, on the customer's channel or by email.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot.domain.models import Channel, RequestRecord
from bot.store import Transaction

# Which notifications also go by email (the policy promises these by email).
EMAIL_COPY = {"receipt", "delayed", "completed"}


async def notify(
    tx: Transaction,
    record: RequestRecord,
    kind: str,
    now: datetime,
    *,
    serial: int,
    chat: bool = True,
    **params: Any,
) -> None:
    """Queue ``kind`` for the request's customer: on their channel (unless
    ``chat`` is False or they opted out there) and by email where promised.
    ``serial`` tells apart two notifications of one kind for one request."""
    data = {
        "reference": record.reference,
        "type": record.type.value,
        "due_date": record.due_date.isoformat(),
        **{k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()},
    }
    targets: list[tuple[str, str]] = []
    opted_out = record.channel in (Channel.SMS, Channel.WHATSAPP) and await tx.is_opted_out(
        record.channel, record.customer_address
    )
    if chat and not opted_out:
        targets.append((record.channel.value, record.customer_address))
    if kind in EMAIL_COPY or (chat and opted_out):
        targets.append(("email", record.email))
    for channel, address in targets:
        key = f"{record.reference}:{kind}:{serial}:{channel}"
        await tx.enqueue_notification(
            record.reference, kind, channel, address, record.language, data, key, now
        )
