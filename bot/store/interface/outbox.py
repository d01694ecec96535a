"""What waits to be sent after a commit: notifications (with their
leases and results), the sealed mail outbox, and staff messages a
pull-only channel shows when the customer comes back.

Every send is leased: a worker renews a row's lease right before it sends
and skips a row whose lease another worker took meanwhile.
"""

from __future__ import annotations

import abc
from datetime import datetime
from typing import Any

from bot.domain.models import (
    Channel,
    Notification,
    NotificationState,
    PendingStaffMessage,
    QueuedMail,
)


class Outbox(abc.ABC):
    """The outbox part of a ``Transaction`` (``bot.store.base``)."""

    @abc.abstractmethod
    async def enqueue_notification(
        self,
        reference: str,
        kind: str,
        channel: str,
        address: str,
        language: str,
        params: dict[str, Any],
        idempotency_key: str,
        now: datetime,
        created_at: datetime | None = None,
    ) -> bool:
        """Add a notification; False when its idempotency key is already there.
        ``created_at`` (default ``now``) starts its 48-hour clock: a fallback
        keeps the original's."""

    @abc.abstractmethod
    async def request_notifications(self, reference: str) -> list[NotificationState]:
        """Every notification of one request, oldest first, with the
        provider's latest delivery report (the console's request page)."""

    @abc.abstractmethod
    async def get_notification(self, id: int) -> Notification | None:
        """One notification by its id, whatever its state (a retry reads it)."""

    @abc.abstractmethod
    async def due_notifications(self, now: datetime, limit: int) -> list[Notification]: ...

    @abc.abstractmethod
    async def notification_by_provider(self, provider_id: str) -> Notification | None: ...

    @abc.abstractmethod
    async def lease_notification(self, id: int, held: datetime, until: datetime) -> bool:
        """Hold a pending notification back until ``until`` while one worker
        sends it, if its lease is still ``held`` (its due time when claimed, the
        lease this worker took when renewed right before the send). False when
        it was sent or given up, or its lease ran out and another worker took
        it: that worker sends it, so this one must not send it too."""

    @abc.abstractmethod
    async def pending_notifications(self, channel: str, address: str) -> list[Notification]: ...

    @abc.abstractmethod
    async def notification_sent(self, id: int, provider_id: str | None, now: datetime) -> bool:
        """Record the send; True when it wiped the address of a forgotten
        customer (the caller then scrubs the old copies off the disk)."""

    @abc.abstractmethod
    async def notification_failed(
        self, id: int, error: str, next_attempt_at: datetime | None, now: datetime
    ) -> bool:
        """Record a failed try; ``next_attempt_at`` None means given up. True
        when giving up wiped a forgotten customer's address (then scrub)."""

    @abc.abstractmethod
    async def reported_undelivered(self, provider_id: str) -> bool:
        """Whether the provider has reported this message failed or undelivered."""

    @abc.abstractmethod
    async def pending_staff_messages(
        self, channel: Channel, address: str
    ) -> list[PendingStaffMessage]:
        """Messages from staff (replies, joined, back to the bot) not sent yet to
        this customer, oldest first. A channel without push (the terminal) shows
        them when the customer comes back."""

    @abc.abstractmethod
    async def enqueue_mail(
        self, kind: str, sealed: str, idempotency_key: str, now: datetime, expires_at: datetime
    ) -> int | None:
        """Queue a sealed mail in the mail outbox; its id (None: the key is
        queued already)."""

    @abc.abstractmethod
    async def claim_mail(
        self, now: datetime, until: datetime, limit: int, ids: list[int] | None = None
    ) -> list[QueuedMail]:
        """The due mail (of ``ids`` only, if given), leased until ``until`` so
        that no other worker sends it meanwhile."""

    @abc.abstractmethod
    async def lease_mail(self, id: int, held: datetime, until: datetime) -> bool:
        """Renew a claimed mail's lease from ``held`` (the lease this worker
        took) to ``until``, right before sending it: a long batch keeps its
        hold. False when the row went, or its lease ran out and another worker
        took it: that worker sends it, so this one must not send it too."""

    @abc.abstractmethod
    async def mail_done(self, id: int) -> None:
        """Sent or dropped: the row (and its sealed code) goes."""

    @abc.abstractmethod
    async def mail_failed(self, id: int, error: str, next_attempt_at: datetime) -> None: ...
