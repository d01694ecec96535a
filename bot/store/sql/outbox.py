"""The notification and mail outboxes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.domain.models import (
    Channel,
    Notification,
    NotificationState,
    PendingStaffMessage,
    QueuedMail,
)
from bot.domain.timestamps import utc_iso as _ts
from bot.store.sql.queries import FORGOTTEN_LIKE, Queries, Row, _dt


class SqlOutbox(Queries):
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
        cur = await self.db.execute(
            "INSERT INTO notifications (request_id, kind, channel, address, language, "
            "params, idempotency_key, next_attempt_at, created_at) "
            "SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM requests WHERE reference = ? "
            "ON CONFLICT DO NOTHING",
            (
                kind,
                channel,
                address,
                language,
                json.dumps(params, ensure_ascii=False),
                idempotency_key,
                _ts(now),
                _ts(created_at or now),
                reference,
            ),
        )
        return cur.rowcount == 1

    async def request_notifications(self, reference: str) -> list[NotificationState]:
        rows = await self._all(
            "SELECT n.id, n.kind, n.channel, n.status, n.attempts, n.last_error, n.created_at, "
            "n.sent_at, n.idempotency_key, (SELECT d.status FROM delivery_events d "
            "WHERE n.provider_id IS NOT NULL AND d.provider_id = n.provider_id "
            "ORDER BY d.id DESC LIMIT 1) AS delivery FROM notifications n "
            "JOIN requests r ON r.id = n.request_id WHERE r.reference = ? ORDER BY n.id",
            (reference,),
        )
        return [
            NotificationState(
                id=r["id"],
                kind=r["kind"],
                channel=r["channel"],
                status=r["status"],
                attempts=r["attempts"],
                last_error=r["last_error"],
                created_at=datetime.fromisoformat(r["created_at"]),
                sent_at=_dt(r["sent_at"]),
                delivery=r["delivery"],
                key=r["idempotency_key"],
            )
            for r in rows
        ]

    async def get_notification(self, id: int) -> Notification | None:
        row = await self._one(
            "SELECT n.*, r.reference FROM notifications n JOIN requests r ON r.id = n.request_id "
            "WHERE n.id = ?",
            (id,),
        )
        return _notification(row) if row else None

    async def due_notifications(self, now: datetime, limit: int) -> list[Notification]:
        rows = await self._all(
            "SELECT n.*, r.reference FROM notifications n JOIN requests r ON r.id = n.request_id "
            "WHERE n.status = 'pending' AND n.next_attempt_at <= ? AND n.channel != 'terminal' "
            "ORDER BY n.next_attempt_at, n.id LIMIT ?" + self.db.skip_locked("n"),
            (_ts(now), limit),
        )
        return [_notification(r) for r in rows]

    async def notification_by_provider(self, provider_id: str) -> Notification | None:
        row = await self._one(
            "SELECT n.*, r.reference FROM notifications n JOIN requests r ON r.id = n.request_id "
            "WHERE n.provider_id = ? AND n.status = 'sent'",
            (provider_id,),
        )
        return _notification(row) if row else None

    async def lease_notification(self, id: int, held: datetime, until: datetime) -> bool:
        cur = await self.db.execute(
            "UPDATE notifications SET next_attempt_at = ? WHERE id = ? AND status = 'pending' "
            "AND next_attempt_at = ?",
            (_ts(until), id, _ts(held)),
        )
        return cur.rowcount == 1

    async def pending_notifications(self, channel: str, address: str) -> list[Notification]:
        rows = await self._all(
            "SELECT n.*, r.reference FROM notifications n JOIN requests r ON r.id = n.request_id "
            "WHERE n.status = 'pending' AND n.channel = ? AND n.address = ? ORDER BY n.id",
            (channel, address),
        )
        return [_notification(r) for r in rows]

    async def _wipe_if_forgotten(self, id: int) -> bool:
        """A forgotten customer's last notice keeps its address only until it
        is sent or given up; True when this wiped one."""
        wiped = await self.db.execute(
            "UPDATE notifications SET address = '' WHERE id = ? AND address != '' AND "
            "request_id IN (SELECT id FROM requests WHERE email LIKE ?)",
            (id, FORGOTTEN_LIKE),
        )
        return wiped.rowcount > 0

    async def notification_sent(self, id: int, provider_id: str | None, now: datetime) -> bool:
        wiped = await self._wipe_if_forgotten(id)
        await self.db.execute(
            "UPDATE notifications SET status = 'sent', sent_at = ?, provider_id = ?, "
            "attempts = attempts + 1 WHERE id = ?",
            (_ts(now), provider_id, id),
        )
        return wiped

    async def notification_failed(
        self, id: int, error: str, next_attempt_at: datetime | None, now: datetime
    ) -> bool:
        await self.db.execute(
            "UPDATE notifications SET attempts = attempts + 1, last_error = ?, "
            "status = CASE WHEN CAST(? AS TEXT) IS NULL THEN 'given_up' ELSE status END, "
            "next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?",
            (
                error[:200],
                _ts(next_attempt_at) if next_attempt_at else None,
                _ts(next_attempt_at) if next_attempt_at else None,
                id,
            ),
        )
        return next_attempt_at is None and await self._wipe_if_forgotten(id)

    async def reported_undelivered(self, provider_id: str) -> bool:
        row = await self._one(
            "SELECT 1 FROM delivery_events WHERE provider_id = ? AND status IN "
            "('failed', 'undelivered') LIMIT 1",
            (provider_id,),
        )
        return row is not None

    async def pending_staff_messages(
        self, channel: Channel, address: str
    ) -> list[PendingStaffMessage]:
        rows = await self._all(
            "SELECT o.id, o.text, o.created_at FROM outbound_messages o "
            "JOIN conversations c ON c.id = o.conversation_id "
            "WHERE c.channel = ? AND c.address = ? AND o.author IS NOT NULL "
            "AND o.sent_at IS NULL AND o.sealed = 0 ORDER BY o.id",
            (channel.value, address),
        )
        return [
            PendingStaffMessage(r["id"], r["text"], datetime.fromisoformat(r["created_at"]))
            for r in rows
        ]

    async def enqueue_mail(
        self, kind: str, sealed: str, idempotency_key: str, now: datetime, expires_at: datetime
    ) -> int | None:
        row = await self._one(
            "INSERT INTO mail_outbox (kind, sealed, idempotency_key, next_attempt_at, "
            "expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING "
            "RETURNING id",
            (kind, sealed, idempotency_key, _ts(now), _ts(expires_at), _ts(now)),
        )
        return int(row[0]) if row else None

    async def claim_mail(
        self, now: datetime, until: datetime, limit: int, ids: list[int] | None = None
    ) -> list[QueuedMail]:
        only = f" AND id IN ({','.join('?' * len(ids))})" if ids is not None else ""
        rows = await self._all(
            f"SELECT * FROM mail_outbox WHERE next_attempt_at <= ?{only} "
            "ORDER BY next_attempt_at, id LIMIT ?" + self.db.skip_locked("mail_outbox"),
            (_ts(now), *(ids or ()), limit),
        )
        for row in rows:
            await self.db.execute(
                "UPDATE mail_outbox SET next_attempt_at = ? WHERE id = ?", (_ts(until), row["id"])
            )
        return [
            QueuedMail(
                id=r["id"],
                kind=r["kind"],
                sealed=r["sealed"],
                idempotency_key=r["idempotency_key"],
                attempts=r["attempts"],
                expires_at=datetime.fromisoformat(r["expires_at"]),
            )
            for r in rows
        ]

    async def lease_mail(self, id: int, held: datetime, until: datetime) -> bool:
        cur = await self.db.execute(
            "UPDATE mail_outbox SET next_attempt_at = ? WHERE id = ? AND next_attempt_at = ?",
            (_ts(until), id, _ts(held)),
        )
        return cur.rowcount == 1

    async def mail_done(self, id: int) -> None:
        await self.db.execute("DELETE FROM mail_outbox WHERE id = ?", (id,))

    async def mail_failed(self, id: int, error: str, next_attempt_at: datetime) -> None:
        await self.db.execute(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
            "WHERE id = ?",
            (error[:200], _ts(next_attempt_at), id),
        )


def _notification(r: Row) -> Notification:
    return Notification(
        id=r["id"],
        reference=r["reference"],
        kind=r["kind"],
        channel=r["channel"],
        address=r["address"],
        language=r["language"],
        params=json.loads(r["params"]),
        idempotency_key=r["idempotency_key"],
        status=r["status"],
        attempts=r["attempts"],
        next_attempt_at=datetime.fromisoformat(r["next_attempt_at"]),
        created_at=datetime.fromisoformat(r["created_at"]),
    )
