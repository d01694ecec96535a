"""SQLite store on ``aiosqlite``: WAL, a busy timeout, migrations at start.

Write transactions begin with ``BEGIN IMMEDIATE`` so a second process waits
for the lock up front (within the busy timeout) instead of failing half-way
when a read lock cannot be upgraded. The connection runs with
``isolation_level=None`` so Python's sqlite3 module never opens or commits
transactions behind our back. One connection is shared by the coroutines of
a process, so transactions are serialised with an ``asyncio.Lock``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.domain.models import (
    AttachmentRecord,
    Channel,
    CodeRecord,
    ConversationRecord,
    Escalation,
    Notification,
    QueuedMail,
    RecordedReply,
    RequestEvent,
    RequestRecord,
)
from bot.store.base import DuplicateReference, Store, StoreError, Transaction
from flows.types import RequestStatus, RequestType

log = logging.getLogger(__name__)


def _ts(value: datetime) -> str:
    """Always UTC, one format, so stored times compare correctly as text."""
    return value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("bot.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise StoreError("migration ends in an incomplete statement")
    return statements


class SQLiteStore(Store):
    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(
                self.path, isolation_level=None, timeout=self.busy_timeout
            )
            self._db.row_factory = aiosqlite.Row
            await self._db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            await self._db.execute("PRAGMA journal_mode = WAL")
            await self._db.execute("PRAGMA synchronous = FULL")
            await self._db.execute("PRAGMA foreign_keys = ON")
            # Deleted personal data is overwritten, not left in free pages.
            await self._db.execute("PRAGMA secure_delete = ON")
            await self._migrate()
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    async def _migrate(self) -> None:
        async with self._immediate():
            await self.db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            async with self.db.execute("SELECT version FROM schema_migrations") as cur:
                applied = {row[0] for row in await cur.fetchall()}
            for version, script in _migrations():
                if version in applied:
                    continue
                for statement in _statements(script):
                    await self.db.execute(statement)
                await self.db.execute(
                    "INSERT INTO schema_migrations VALUES (?, datetime('now'))", (version,)
                )

    async def scrub_wal(self) -> None:
        """Copy the WAL into the database and empty it, so old page images
        (with deleted content) do not stay on disk. With ``secure_delete`` on
        (set when the store opens, on this same connection) the database file
        keeps no copy either: both are needed, as measured by the tests."""
        async with self._lock, self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
            row = await cur.fetchone()
        if row is not None and row[0]:
            # Another process was reading throughout the busy timeout; the next
            # scrub (each forgetting step and each wiped notice runs one) finishes.
            log.warning("the WAL could not be emptied now: a reader held it")

    async def ping(self) -> None:
        async with self.transaction(readonly=True) as tx:
            await tx.find_inbound(Channel.TERMINAL, "")

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT max(version) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        return int(row[0] or 0)

    @asynccontextmanager
    async def _immediate(self, readonly: bool = False) -> AsyncIterator[None]:
        await self.db.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            await self.db.execute("ROLLBACK")
            raise
        try:
            await self.db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT leaves the transaction open: close it, or every
            # later BEGIN on this connection fails.
            if self.db.in_transaction:
                await self.db.execute("ROLLBACK")
            raise

    @asynccontextmanager
    async def transaction(self, readonly: bool = False) -> AsyncIterator[Transaction]:
        async with self._lock:
            try:
                async with self._immediate(readonly):
                    yield _SQLiteTransaction(self.db)
            except sqlite3.OperationalError as exc:
                raise StoreError(f"database error: {exc}") from exc


class _SQLiteTransaction(Transaction):
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self.db.execute(sql, params) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def find_inbound(self, channel: Channel, external_id: str) -> int | None:
        row = await self._one(
            "SELECT id FROM inbound_messages WHERE channel = ? AND external_id = ?",
            (channel.value, external_id),
        )
        return int(row[0]) if row else None

    async def inbound_sender(self, inbound_id: int) -> str | None:
        row = await self._one(
            "SELECT c.address FROM inbound_messages i JOIN conversations c "
            "ON c.id = i.conversation_id WHERE i.id = ?",
            (inbound_id,),
        )
        return str(row[0]) if row else None

    async def replies_to(self, inbound_id: int) -> list[RecordedReply]:
        rows = await self._all(
            "SELECT id, message_key, text, language, buttons, sent_at, sealed "
            "FROM outbound_messages WHERE inbound_id = ? ORDER BY position",
            (inbound_id,),
        )
        replies = []
        for r in rows:
            buttons = json.loads(r["buttons"]) or {}
            replies.append(
                RecordedReply(
                    id=r["id"],
                    key=r["message_key"],
                    text=r["text"],
                    language=r["language"],
                    buttons=tuple((label, value) for label, value in buttons.get("items", ())),
                    state=buttons.get("state", ""),
                    sent=r["sent_at"] is not None,
                    sealed=bool(r["sealed"]),
                )
            )
        return replies

    async def get_conversation(self, channel: Channel, address: str) -> ConversationRecord | None:
        row = await self._one(
            "SELECT * FROM conversations WHERE channel = ? AND address = ?",
            (channel.value, address),
        )
        return _conversation(row) if row else None

    async def create_conversation(
        self, channel: Channel, address: str, state: str, language: str, now: datetime
    ) -> ConversationRecord:
        await self.db.execute(
            "INSERT INTO conversations (channel, address, state, slots, language, failures, "
            "created_at, updated_at) VALUES (?, ?, ?, '{}', ?, 0, ?, ?)",
            (channel.value, address, state, language, _ts(now), _ts(now)),
        )
        created = await self.get_conversation(channel, address)
        assert created is not None
        return created

    async def save_conversation(self, c: ConversationRecord) -> None:
        await self.db.execute(
            "UPDATE conversations SET state = ?, slots = ?, language = ?, failures = ?, "
            "waiting_staff_since = ?, updated_at = ?, last_activity_at = ?, claimed_by = ? "
            "WHERE id = ?",
            (
                c.state,
                json.dumps(c.slots, ensure_ascii=False),
                c.language,
                c.failures,
                _ts(c.waiting_staff_since) if c.waiting_staff_since else None,
                _ts(c.updated_at),
                _ts(c.last_activity_at) if c.last_activity_at else None,
                c.claimed_by,
                c.id,
            ),
        )

    async def conversations_idle_since(self, cutoff: datetime) -> list[ConversationRecord]:
        rows = await self._all(
            "SELECT * FROM conversations WHERE last_activity_at < ? AND slots != '{}' ORDER BY id",
            (_ts(cutoff),),
        )
        return [_conversation(r) for r in rows]

    async def record_inbound(
        self,
        conversation_id: int,
        channel: Channel,
        external_id: str,
        text: str,
        truncated: bool,
        attachment_count: int,
        state_before: str,
        state_after: str,
        now: datetime,
    ) -> int:
        cur = await self.db.execute(
            "INSERT INTO inbound_messages (conversation_id, channel, external_id, text, "
            "truncated, attachment_count, state_before, state_after, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                channel.value,
                external_id,
                text,
                int(truncated),
                attachment_count,
                state_before,
                state_after,
                _ts(now),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def record_outbound(
        self,
        conversation_id: int,
        inbound_id: int | None,
        language: str,
        state: str,
        replies: Sequence[tuple[str, str, tuple[tuple[str, str], ...]]],
        now: datetime,
        author: str | None = None,
        sealed: Sequence[bool] = (),
    ) -> list[int]:
        ids = []
        for position, (key, text, buttons) in enumerate(replies):
            encoded = (
                json.dumps({"state": state, "items": buttons}, ensure_ascii=False)
                if buttons
                else "[]"
            )
            cur = await self.db.execute(
                "INSERT INTO outbound_messages (conversation_id, inbound_id, position, "
                "message_key, language, text, buttons, created_at, author, sealed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    inbound_id,
                    position,
                    key,
                    language,
                    text,
                    encoded,
                    _ts(now),
                    author,
                    bool(sealed[position]) if position < len(sealed) else False,
                ),
            )
            assert cur.lastrowid is not None
            ids.append(cur.lastrowid)
        return ids

    async def mark_sent(self, outbound_id: int, provider_id: str | None, now: datetime) -> None:
        await self.db.execute(
            "UPDATE outbound_messages SET sent_at = coalesce(sent_at, ?), "
            "provider_id = coalesce(?, provider_id) WHERE id = ?",
            (_ts(now), provider_id, outbound_id),
        )

    async def record_delivery(
        self,
        provider_id: str,
        status: str,
        error_code: str | None,
        now: datetime,
        outbound_id: int | None = None,
    ) -> None:
        if outbound_id is not None:
            cur = await self.db.execute(
                "UPDATE outbound_messages SET provider_id = coalesce(provider_id, ?) WHERE id = ?",
                (provider_id, outbound_id),
            )
            if cur.rowcount == 0:  # no such reply (gone with a forgotten customer)
                outbound_id = None
        if outbound_id is None:
            row = await self._one(
                "SELECT id FROM outbound_messages WHERE provider_id = ?", (provider_id,)
            )
            outbound_id = row[0] if row else None
        await self.db.execute(
            "INSERT INTO delivery_events (outbound_id, provider_id, status, error_code, "
            "received_at) VALUES (?, ?, ?, ?, ?)",
            (outbound_id, provider_id, status, error_code, _ts(now)),
        )
        if outbound_id is not None:
            await self.db.execute(
                "UPDATE outbound_messages SET delivery_status = ?, delivery_updated_at = ?, "
                "sent_at = coalesce(sent_at, ?) WHERE id = ?",
                (status, _ts(now), _ts(now), outbound_id),
            )

    async def set_opt_out(
        self, channel: Channel, address: str, opted_out: bool, source: str, now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO opt_outs (channel, address, opted_out, source, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, address) DO UPDATE SET "
            "opted_out = excluded.opted_out, source = excluded.source, "
            "updated_at = excluded.updated_at",
            (channel.value, address, int(opted_out), source, _ts(now)),
        )

    async def is_opted_out(self, channel: Channel, address: str) -> bool:
        row = await self._one(
            "SELECT opted_out FROM opt_outs WHERE channel = ? AND address = ?",
            (channel.value, address),
        )
        return bool(row and row[0])

    async def create_upload_token(
        self, token_hash: str, conversation_id: int, now: datetime, expires_at: datetime
    ) -> None:
        await self.db.execute(
            "UPDATE upload_tokens SET expires_at = ? WHERE conversation_id = ? "
            "AND used_at IS NULL AND expires_at > ?",
            (_ts(now), conversation_id, _ts(now)),
        )
        await self.db.execute(
            "INSERT INTO upload_tokens (token_hash, conversation_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?)",
            (token_hash, conversation_id, _ts(now), _ts(expires_at)),
        )

    async def upload_token_conversation(self, token_hash: str, now: datetime) -> int | None:
        row = await self._one(
            "SELECT conversation_id FROM upload_tokens WHERE token_hash = ? "
            "AND used_at IS NULL AND expires_at > ?",
            (token_hash, _ts(now)),
        )
        return int(row[0]) if row else None

    async def use_upload_token(self, token_hash: str, now: datetime) -> None:
        await self.db.execute(
            "UPDATE upload_tokens SET used_at = ? WHERE token_hash = ?", (_ts(now), token_hash)
        )

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
            "INSERT OR IGNORE INTO notifications (request_id, kind, channel, address, language, "
            "params, idempotency_key, next_attempt_at, created_at) "
            "SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM requests WHERE reference = ?",
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

    async def due_notifications(self, now: datetime, limit: int) -> list[Notification]:
        rows = await self._all(
            "SELECT n.*, r.reference FROM notifications n JOIN requests r ON r.id = n.request_id "
            "WHERE n.status = 'pending' AND n.next_attempt_at <= ? AND n.channel != 'terminal' "
            "ORDER BY n.next_attempt_at, n.id LIMIT ?",
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

    async def code_mails_since(self, email_digest: str, since: datetime) -> int:
        row = await self._one(
            "SELECT count(*) FROM code_mails WHERE email_digest = ? AND sent_at >= ?",
            (email_digest, _ts(since)),
        )
        return int(row[0]) if row else 0

    async def enqueue_mail(
        self, kind: str, sealed: str, idempotency_key: str, now: datetime, expires_at: datetime
    ) -> int | None:
        cur = await self.db.execute(
            "INSERT OR IGNORE INTO mail_outbox (kind, sealed, idempotency_key, next_attempt_at, "
            "expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, sealed, idempotency_key, _ts(now), _ts(expires_at), _ts(now)),
        )
        return cur.lastrowid if cur.rowcount == 1 else None

    async def claim_mail(
        self, now: datetime, until: datetime, limit: int, ids: list[int] | None = None
    ) -> list[QueuedMail]:
        only = f" AND id IN ({','.join('?' * len(ids))})" if ids is not None else ""
        rows = await self._all(
            f"SELECT * FROM mail_outbox WHERE next_attempt_at <= ?{only} "
            "ORDER BY next_attempt_at, id LIMIT ?",
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

    async def take_code_mail(self, email_digest: str, now: datetime, per_hour: int) -> bool:
        if await self.code_mails_since(email_digest, now - timedelta(hours=1)) >= per_hour:
            return False
        await self.db.execute(
            "INSERT INTO code_mails (email_digest, sent_at) VALUES (?, ?)",
            (email_digest, _ts(now)),
        )
        return True

    async def drop_code_mails(self, before: datetime) -> None:
        await self.db.execute("DELETE FROM code_mails WHERE sent_at < ?", (_ts(before),))

    async def reported_undelivered(self, provider_id: str) -> bool:
        row = await self._one(
            "SELECT 1 FROM delivery_events WHERE provider_id = ? AND status IN "
            "('failed', 'undelivered') LIMIT 1",
            (provider_id,),
        )
        return row is not None

    async def lease_notification(self, id: int, until: datetime) -> None:
        await self.db.execute(
            "UPDATE notifications SET next_attempt_at = ? WHERE id = ?", (_ts(until), id)
        )

    async def pending_notifications(self, channel: str, address: str) -> list[Notification]:
        rows = await self._all(
            "SELECT n.*, r.reference FROM notifications n JOIN requests r ON r.id = n.request_id "
            "WHERE n.status = 'pending' AND n.channel = ? AND n.address = ? ORDER BY n.id",
            (channel, address),
        )
        return [_notification(r) for r in rows]

    async def pending_staff_messages(self, channel: Channel, address: str) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT o.id, o.text, o.created_at FROM outbound_messages o "
            "JOIN conversations c ON c.id = o.conversation_id "
            "WHERE c.channel = ? AND c.address = ? AND o.author IS NOT NULL "
            "AND o.sent_at IS NULL AND o.sealed = 0 ORDER BY o.id",
            (channel.value, address),
        )
        return [{**dict(r), "created_at": _dt(r["created_at"])} for r in rows]

    async def _wipe_if_forgotten(self, id: int) -> bool:
        """A forgotten customer's last notice keeps its address only until it
        is sent or given up; True when this wiped one."""
        wiped = await self.db.execute(
            "UPDATE notifications SET address = '' WHERE id = ? AND address != '' AND "
            "request_id IN (SELECT id FROM requests WHERE email LIKE 'hmac:%')",
            (id,),
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
            "status = CASE WHEN ? IS NULL THEN 'given_up' ELSE status END, "
            "next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?",
            (
                error[:200],
                _ts(next_attempt_at) if next_attempt_at else None,
                _ts(next_attempt_at) if next_attempt_at else None,
                id,
            ),
        )
        return next_attempt_at is None and await self._wipe_if_forgotten(id)

    async def flag_request(self, reference: str) -> None:
        await self.db.execute(
            "UPDATE requests SET needs_attention = 1 WHERE reference = ?", (reference,)
        )

    async def drop_compliance_records(self, before: datetime) -> int:
        rows = await self._all(
            "SELECT id FROM requests WHERE email LIKE 'hmac:%' AND updated_at < ?",
            (_ts(before),),
        )
        ids = [r[0] for r in rows]
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        for table in ("request_events", "notifications", "downloads"):
            await self.db.execute(f"DELETE FROM {table} WHERE request_id IN ({marks})", ids)
        await self.db.execute(
            f"DELETE FROM attachment_views WHERE attachment_id IN (SELECT id FROM attachments "
            f"WHERE request_id IN ({marks}))",
            ids,
        )
        await self.db.execute(f"DELETE FROM attachments WHERE request_id IN ({marks})", ids)
        await self.db.execute(f"DELETE FROM requests WHERE id IN ({marks})", ids)
        return len(ids)

    async def deletions_to_forget(self) -> list[str]:
        rows = await self._all(
            "SELECT reference FROM requests WHERE type = 'deletion' AND status = 'completed' "
            "AND email NOT LIKE 'hmac:%' ORDER BY id"
        )
        return [r[0] for r in rows]

    async def forget_customer(self, reference: str, email_digest: str, now: datetime) -> list[str]:
        """Erase what identifies the customer of a completed deletion request,
        keeping the compliance record; returns the tokens of files to remove."""
        row = await self._one("SELECT email FROM requests WHERE reference = ?", (reference,))
        if row is None:
            return []
        email = row[0]
        requests = await self._all(
            "SELECT id, conversation_id FROM requests WHERE lower(email) = lower(?)", (email,)
        )
        request_ids = [r[0] for r in requests]
        conversations = sorted({r[1] for r in requests})
        marks = ",".join("?" * len(request_ids))
        convs = ",".join("?" * len(conversations))
        tokens = [
            r[0]
            for r in await self._all(
                f"SELECT token FROM attachments WHERE deleted_at IS NULL AND (request_id IN "
                f"({marks}) OR conversation_id IN ({convs}))",
                (*request_ids, *conversations),
            )
        ]
        await self.db.execute(
            f"UPDATE attachments SET deleted_at = coalesce(deleted_at, ?) WHERE request_id IN "
            f"({marks}) OR conversation_id IN ({convs})",
            (_ts(now), *request_ids, *conversations),
        )
        await self.db.execute(
            f"DELETE FROM delivery_events WHERE outbound_id IN (SELECT id FROM "
            f"outbound_messages WHERE conversation_id IN ({convs}))",
            conversations,
        )
        await self.db.execute(
            f"DELETE FROM outbound_messages WHERE conversation_id IN ({convs})", conversations
        )
        await self.db.execute(
            f"UPDATE attachments SET inbound_id = NULL WHERE inbound_id IN (SELECT id FROM "
            f"inbound_messages WHERE conversation_id IN ({convs}))",
            conversations,
        )
        await self.db.execute(
            f"DELETE FROM inbound_messages WHERE conversation_id IN ({convs})", conversations
        )
        await self.db.execute(
            f"DELETE FROM email_codes WHERE conversation_id IN ({convs})", conversations
        )
        await self.db.execute(
            f"DELETE FROM upload_tokens WHERE conversation_id IN ({convs})", conversations
        )
        # What staff wrote about the customer goes too (hand-over reasons stay:
        # they hold nothing personal).
        await self.db.execute(
            f"DELETE FROM staff_notes WHERE conversation_id IN ({convs})", conversations
        )
        await self.db.execute(
            f"DELETE FROM opt_outs WHERE (channel, address) IN (SELECT channel, address FROM "
            f"conversations WHERE id IN ({convs}))",
            conversations,
        )
        await self.db.execute(
            f"UPDATE conversations SET address = 'forgotten:' || id, slots = '{{}}', "
            f"state = 'menu', waiting_staff_since = NULL, claimed_by = NULL "
            f"WHERE id IN ({convs})",
            conversations,
        )
        await self.db.execute("DELETE FROM accounts WHERE email = lower(?)", (email,))
        tokens += [
            r[0]
            for r in await self._all(
                f"SELECT blob_token FROM downloads WHERE request_id IN ({marks})", request_ids
            )
        ]
        await self.db.execute(f"DELETE FROM downloads WHERE request_id IN ({marks})", request_ids)
        await self.db.execute(
            f"UPDATE requests SET full_name = '', email = ?, customer_address = '', "
            f"reason = NULL, details = '{{}}' WHERE id IN ({marks})",
            (f"hmac:{email_digest}", *request_ids),
        )
        # The status history stays; what people wrote in it does not.
        await self.db.execute(
            f"UPDATE request_events SET data = json_remove(data, '$.reason', '$.message', "
            f"'$.text') "
            f"WHERE request_id IN ({marks})",
            request_ids,
        )
        await self.db.execute(
            f"UPDATE notifications SET params = json_object('reference', "
            f"json_extract(params, '$.reference'), 'type', json_extract(params, '$.type'), "
            f"'due_date', json_extract(params, '$.due_date')), address = CASE WHEN status = "
            f"'pending' THEN address ELSE '' END WHERE request_id IN ({marks})",
            request_ids,
        )
        return tokens

    async def create_staff(self, email: str, role: str, password_hash: str, now: datetime) -> bool:
        cur = await self.db.execute(
            "INSERT OR IGNORE INTO staff (email, role, password_hash, created_at) "
            "VALUES (lower(?), ?, ?, ?)",
            (email, role, password_hash, _ts(now)),
        )
        return cur.rowcount == 1

    async def count_staff(self) -> int:
        row = await self._one("SELECT count(*) FROM staff")
        return int(row[0]) if row else 0

    async def list_staff(self) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT id, email, role, created_at, locked_until, disabled_at FROM staff "
            "ORDER BY email"
        )
        return [dict(r) for r in rows]

    async def update_staff(
        self,
        staff_id: int,
        *,
        role: str | None = None,
        disabled_at: datetime | bool | None = False,
        password_hash: str | None = None,
    ) -> None:
        if role is not None:
            await self.db.execute("UPDATE staff SET role = ? WHERE id = ?", (role, staff_id))
        if disabled_at is not False:
            value = _ts(disabled_at) if isinstance(disabled_at, datetime) else None
            await self.db.execute(
                "UPDATE staff SET disabled_at = ? WHERE id = ?", (value, staff_id)
            )
        if password_hash is not None:
            await self.db.execute(
                "UPDATE staff SET password_hash = ?, failed_logins = 0, locked_until = NULL "
                "WHERE id = ?",
                (password_hash, staff_id),
            )

    async def end_sessions_of(self, staff_id: int) -> None:
        await self.db.execute("DELETE FROM staff_sessions WHERE staff_id = ?", (staff_id,))

    async def add_staff_audit(self, actor: str, action: str, subject: str, now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO staff_audit (actor, action, subject, created_at) VALUES (?, ?, ?, ?)",
            (actor, action, subject, _ts(now)),
        )

    async def staff_audit(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT actor, action, subject, created_at FROM staff_audit ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    async def staff_by_email(self, email: str) -> dict[str, Any] | None:
        row = await self._one("SELECT * FROM staff WHERE email = lower(?)", (email,))
        return dict(row) if row else None

    async def set_staff_login_state(
        self, staff_id: int, failed: int, locked_until: datetime | None
    ) -> None:
        await self.db.execute(
            "UPDATE staff SET failed_logins = ?, locked_until = ? WHERE id = ?",
            (failed, _ts(locked_until) if locked_until else None, staff_id),
        )

    async def add_staff_login_failure(self, staff_id: int) -> tuple[int, str | None]:
        row = await self._one(
            "UPDATE staff SET failed_logins = failed_logins + 1 WHERE id = ? "
            "RETURNING failed_logins, locked_until",
            (staff_id,),
        )
        return (int(row[0]), row[1]) if row else (0, None)

    async def add_login_failure(self, address: str, now: datetime) -> tuple[int, str | None]:
        row = await self._one(
            "INSERT INTO login_failures (address, failures, last_at) VALUES (?, 1, ?) "
            "ON CONFLICT (address) DO UPDATE SET failures = failures + 1, "
            "last_at = excluded.last_at RETURNING failures, locked_until",
            (address, _ts(now)),
        )
        assert row is not None
        return int(row[0]), row[1]

    async def login_failures(self, address: str) -> dict[str, Any] | None:
        row = await self._one("SELECT * FROM login_failures WHERE address = ?", (address,))
        return dict(row) if row else None

    async def set_login_failures(
        self, address: str, failures: int, locked_until: datetime | None, now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO login_failures (address, failures, last_at, locked_until) "
            "VALUES (?, ?, ?, ?)",
            (address, failures, _ts(now), _ts(locked_until) if locked_until else None),
        )

    async def create_session(
        self, id_hash: str, staff_id: int, csrf: str, language: str, now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO staff_sessions (id_hash, staff_id, csrf_token, language, created_at, "
            "last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
            (id_hash, staff_id, csrf, language, _ts(now), _ts(now)),
        )

    async def get_session(self, id_hash: str) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT s.*, f.email, f.role FROM staff_sessions s JOIN staff f ON f.id = s.staff_id "
            "WHERE s.id_hash = ? AND f.disabled_at IS NULL",
            (id_hash,),
        )
        return dict(row) if row else None

    async def touch_session(self, id_hash: str, now: datetime, language: str | None) -> None:
        await self.db.execute(
            "UPDATE staff_sessions SET last_seen_at = ?, language = coalesce(?, language) "
            "WHERE id_hash = ?",
            (_ts(now), language, id_hash),
        )

    async def delete_session(self, id_hash: str) -> None:
        await self.db.execute("DELETE FROM staff_sessions WHERE id_hash = ?", (id_hash,))

    async def create_api_token(self, name: str, token_hash: str, now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?, ?, ?)",
            (name, token_hash, _ts(now)),
        )

    async def api_token_name(self, token_hash: str, now: datetime) -> str | None:
        row = await self._one(
            "SELECT name FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
            (token_hash,),
        )
        if row is None:
            return None
        await self.db.execute(
            "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?", (_ts(now), token_hash)
        )
        return str(row[0])

    async def create_download(
        self,
        token_hash: str,
        reference: str,
        blob_token: str,
        size: int,
        sha256: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.db.execute(
            "INSERT INTO downloads (token_hash, request_id, blob_token, size, sha256, "
            "created_at, expires_at) SELECT ?, id, ?, ?, ?, ?, ? FROM requests WHERE reference = ?",
            (token_hash, blob_token, size, sha256, _ts(now), _ts(expires_at), reference),
        )

    async def get_download(self, token_hash: str, now: datetime) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT d.*, r.reference, r.email, r.language FROM downloads d "
            "JOIN requests r ON r.id = d.request_id WHERE d.token_hash = ? AND d.expires_at > ?",
            (token_hash, _ts(now)),
        )
        return dict(row) if row else None

    async def set_download_code(
        self,
        token_hash: str,
        digest: str | None,
        expires: datetime | None,
        attempts: int,
        sent_at: datetime | None,
    ) -> None:
        await self.db.execute(
            "UPDATE downloads SET code_digest = ?, code_expires = ?, code_attempts = ?, "
            "code_sent_at = coalesce(?, code_sent_at) WHERE token_hash = ?",
            (
                digest,
                _ts(expires) if expires else None,
                attempts,
                _ts(sent_at) if sent_at else None,
                token_hash,
            ),
        )

    async def request_transcripts(self, email: str) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT c.channel, m.at, m.who, m.text, m.sealed FROM ("
            " SELECT conversation_id, received_at AS at, 'customer' AS who, text, id,"
            " 0 AS sealed FROM inbound_messages UNION ALL"
            " SELECT conversation_id, created_at AS at, CASE WHEN author IS NULL THEN 'bot'"
            " ELSE 'staff' END AS who, text, id, sealed FROM outbound_messages) m"
            " JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.conversation_id IN (SELECT conversation_id FROM requests "
            "WHERE lower(email) = lower(?)) ORDER BY m.at, m.who DESC, m.id",
            (email,),
        )
        return [dict(r) for r in rows]

    async def find_account(self, email: str) -> tuple[str, str] | None:
        row = await self._one(
            "SELECT email, full_name FROM accounts WHERE email = ?", (email.casefold(),)
        )
        return (row[0], row[1]) if row else None

    async def count_accounts(self) -> int:
        row = await self._one("SELECT count(*) FROM accounts")
        return int(row[0]) if row else 0

    async def import_accounts(
        self, rows: Sequence[tuple[str, str, str | None]], now: datetime
    ) -> int:
        await self.db.executemany(
            "INSERT INTO accounts (email, full_name, phone, imported_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (email) DO UPDATE SET full_name = excluded.full_name, "
            "phone = excluded.phone, imported_at = excluded.imported_at",
            [(email.casefold(), name, phone, _ts(now)) for email, name, phone in rows],
        )
        return len(rows)

    async def get_code(self, conversation_id: int) -> CodeRecord | None:
        row = await self._one(
            "SELECT * FROM email_codes WHERE conversation_id = ?", (conversation_id,)
        )
        if row is None:
            return None
        return CodeRecord(
            conversation_id=row["conversation_id"],
            purpose=row["purpose"],
            email=row["email"],
            digest=row["digest"],
            directory_name=row["directory_name"],
            issued_at=datetime.fromisoformat(row["issued_at"]),
            expires_at=datetime.fromisoformat(row["expires_at"]),
            attempts=row["attempts"],
            sends=row["sends"],
            last_sent_at=datetime.fromisoformat(row["last_sent_at"]),
            locked_until=_dt(row["locked_until"]),
            verified_at=_dt(row["verified_at"]),
        )

    async def save_code(self, code: CodeRecord) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO email_codes (conversation_id, purpose, email, digest, "
            "directory_name, issued_at, expires_at, attempts, sends, last_sent_at, "
            "locked_until, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                code.conversation_id,
                code.purpose,
                code.email,
                code.digest,
                code.directory_name,
                _ts(code.issued_at),
                _ts(code.expires_at),
                code.attempts,
                code.sends,
                _ts(code.last_sent_at),
                _ts(code.locked_until) if code.locked_until else None,
                _ts(code.verified_at) if code.verified_at else None,
            ),
        )

    async def record_attachment_view(
        self, token: str, viewer: str, purpose: str, now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO attachment_views (attachment_id, viewer, purpose, viewed_at) "
            "SELECT id, ?, ?, ? FROM attachments WHERE token = ?",
            (viewer, purpose, _ts(now), token),
        )

    async def live_attachment_tokens(self) -> set[str]:
        rows = await self._all(
            "SELECT token FROM attachments WHERE deleted_at IS NULL "
            "UNION SELECT blob_token FROM downloads"
        )
        return {r[0] for r in rows}

    async def expired_downloads(self, now: datetime) -> list[str]:
        rows = await self._all(
            "SELECT blob_token FROM downloads WHERE expires_at <= ?", (_ts(now),)
        )
        await self.db.execute("DELETE FROM downloads WHERE expires_at <= ?", (_ts(now),))
        return [r[0] for r in rows]

    async def id_proofs_due(self, cutoff: datetime) -> list[tuple[str, str]]:
        rows = await self._all(
            "SELECT a.token, r.reference FROM attachments a JOIN requests r ON r.id = a.request_id "
            "WHERE a.deleted_at IS NULL AND r.retention_from IS NOT NULL "
            "AND r.retention_from <= ? ORDER BY a.id",
            (_ts(cutoff),),
        )
        return [(r[0], r[1]) for r in rows]

    async def staff_queue(self, staff: str, everyone: bool = False) -> list[ConversationRecord]:
        rows = await self._all(
            "SELECT * FROM conversations WHERE (waiting_staff_since IS NOT NULL AND "
            "claimed_by IS NULL) OR claimed_by = ? OR (? AND claimed_by IS NOT NULL) "
            "ORDER BY waiting_staff_since, id",
            (staff, everyone),
        )
        return [_conversation(r) for r in rows]

    async def return_chats_of(self, staff: str, now: datetime) -> list[int]:
        rows = await self._all("SELECT id FROM conversations WHERE claimed_by = ?", (staff,))
        await self.db.execute(
            "UPDATE conversations SET claimed_by = NULL, waiting_staff_since = "
            "coalesce(waiting_staff_since, ?) WHERE claimed_by = ?",
            (_ts(now), staff),
        )
        return [r[0] for r in rows]

    async def transcript(self, conversation_id: int) -> list[dict[str, Any]]:
        rows = await self._all(
            # In time order; within one instant, each message before its answers.
            "SELECT at, who, text, problem, sealed FROM ("
            " SELECT received_at AS at, 'customer' AS who, text, id AS turn, 0 AS k, id,"
            " 0 AS problem, 0 AS sealed FROM inbound_messages WHERE conversation_id = ?"
            " UNION ALL"
            " SELECT created_at, CASE WHEN author IS NOT NULL THEN 'staff:' || author"
            " WHEN inbound_id IS NULL AND message_key LIKE 'staff.%' THEN 'staff' ELSE 'bot' END,"
            " text, coalesce(inbound_id, 9e18), 1, id,"
            " sent_at IS NULL OR coalesce(delivery_status, '') IN ('failed', 'undelivered'),"
            " sealed FROM outbound_messages WHERE conversation_id = ?"
            " UNION ALL SELECT created_at, 'note:' || author, text, 9e18, 2, id, 0, 0"
            " FROM staff_notes WHERE conversation_id = ?"
            " UNION ALL SELECT created_at, 'event:' || actor, kind || CASE WHEN detail = '' THEN ''"
            " ELSE ' ' || detail END, 9e18, 3, id, 0, 0 FROM chat_events"
            " WHERE conversation_id = ?)"
            " ORDER BY at, turn, k, id",
            (conversation_id, conversation_id, conversation_id, conversation_id),
        )
        return [dict(r) for r in rows]

    async def add_staff_note(
        self, conversation_id: int, author: str, text: str, now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO staff_notes (conversation_id, author, text, created_at) "
            "VALUES (?, ?, ?, ?)",
            (conversation_id, author, text, _ts(now)),
        )

    async def add_chat_event(
        self, conversation_id: int, actor: str, kind: str, detail: str, now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO chat_events (conversation_id, actor, kind, detail, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (conversation_id, actor, kind, detail, _ts(now)),
        )

    async def staff_reply(self, outbound_id: int) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT conversation_id, author, text, EXISTS (SELECT 1 FROM chat_events e WHERE "
            "e.conversation_id = o.conversation_id AND e.kind = 'undelivered' AND "
            "e.detail LIKE o.id || ' %') AS rerouted FROM outbound_messages o "
            "WHERE o.id = ? AND o.author IS NOT NULL AND o.message_key = 'staff.reply'",
            (outbound_id,),
        )
        return dict(row) if row else None

    async def record_escalation(self, conversation_id: int, reason: str, now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO escalations (conversation_id, reason, created_at) VALUES (?, ?, ?)",
            (conversation_id, reason, _ts(now)),
        )

    async def escalation_reasons(self, conversation_ids: list[int]) -> dict[int, str]:
        if not conversation_ids:
            return {}
        marks = ",".join("?" * len(conversation_ids))
        rows = await self._all(
            f"SELECT conversation_id, reason FROM escalations WHERE id IN (SELECT max(id) FROM "
            f"escalations WHERE conversation_id IN ({marks}) GROUP BY conversation_id)",
            conversation_ids,
        )
        return {r[0]: r[1] for r in rows}

    async def unannounced_escalations(self, since: datetime) -> list[Escalation]:
        rows = await self._all(
            "SELECT e.id, e.conversation_id, e.reason, e.created_at, c.channel, c.language, "
            "c.waiting_staff_since IS NOT NULL AND c.claimed_by IS NULL "
            "FROM escalations e JOIN conversations c ON c.id = e.conversation_id "
            "WHERE e.announced_at IS NULL AND e.created_at >= ? ORDER BY e.id",
            (_ts(since),),
        )
        return [
            Escalation(r[0], r[1], r[2], _dt(r[3]) or since, Channel(r[4]), r[5], bool(r[6]))
            for r in rows
        ]

    async def mark_announced(self, escalation_id: int, now: datetime) -> None:
        await self.db.execute(
            "UPDATE escalations SET announced_at = ? WHERE id = ?", (_ts(now), escalation_id)
        )

    async def activity_mark(self) -> str:
        row = await self._one(
            "SELECT (SELECT max(id) FROM inbound_messages), (SELECT max(id) FROM "
            "outbound_messages), (SELECT max(id) FROM staff_notes), (SELECT max(id) FROM "
            "escalations), (SELECT max(id) FROM request_events), (SELECT max(id) FROM "
            "chat_events), "
            "(SELECT group_concat(id || ':' || coalesce(claimed_by, '') || ':' || "
            "coalesce(waiting_staff_since, '')) FROM conversations WHERE claimed_by IS NOT NULL "
            "OR waiting_staff_since IS NOT NULL)",
            (),
        )
        return "|".join(str(v) for v in row) if row else ""

    async def get_conversation_by_id(self, conversation_id: int) -> ConversationRecord | None:
        row = await self._one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        return _conversation(row) if row else None

    async def open_requests_for_email(self, email: str) -> list[RequestRecord]:
        rows = await self._all(
            "SELECT * FROM requests WHERE lower(email) = lower(?) AND status IN "
            "('awaiting_id_proof', 'verifying', 'needs_info', 'in_progress') ORDER BY id",
            (email,),
        )
        return [_request(r) for r in rows]

    async def requests_for_address(self, channel: Channel, address: str) -> list[RequestRecord]:
        rows = await self._all(
            "SELECT * FROM requests WHERE channel = ? AND customer_address = ? ORDER BY id DESC",
            (channel.value, address),
        )
        return [_request(r) for r in rows]

    async def insert_request(
        self,
        *,
        reference: str,
        type: RequestType,
        status: RequestStatus,
        channel: Channel,
        customer_address: str,
        conversation_id: int,
        language: str,
        full_name: str,
        email: str,
        reason: str | None,
        details: dict[str, Any],
        now: datetime,
        due_date: date,
    ) -> int:
        try:
            cur = await self.db.execute(
                "INSERT INTO requests (reference, type, status, channel, customer_address, "
                "conversation_id, language, full_name, email, reason, details, created_at, "
                "updated_at, due_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    reference,
                    type.value,
                    status.value,
                    channel.value,
                    customer_address,
                    conversation_id,
                    language,
                    full_name,
                    email,
                    reason,
                    json.dumps(details, ensure_ascii=False),
                    _ts(now),
                    _ts(now),
                    due_date.isoformat(),
                ),
            )
        except sqlite3.IntegrityError as exc:
            if "requests.reference" in str(exc):
                raise DuplicateReference(reference) from exc
            raise
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def set_due_date(self, reference: str, due: date, now: datetime) -> None:
        await self.db.execute(
            "UPDATE requests SET due_date = ?, updated_at = ? WHERE reference = ?",
            (due.isoformat(), _ts(now), reference),
        )

    async def set_request_status(
        self, reference: str, status: RequestStatus, now: datetime
    ) -> None:
        # Verified, completed, rejected or cancelled: the ID proof's retention starts.
        starts = status not in (
            RequestStatus.AWAITING_ID_PROOF,
            RequestStatus.VERIFYING,
            RequestStatus.NEEDS_INFO,
        )
        await self.db.execute(
            "UPDATE requests SET status = ?, updated_at = ?, "
            "retention_from = CASE WHEN ? AND retention_from IS NULL THEN ? "
            "ELSE retention_from END WHERE reference = ?",
            (status.value, _ts(now), int(starts), _ts(now), reference),
        )

    async def add_request_event(
        self, reference: str, actor: str, kind: str, data: dict[str, Any], now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO request_events (request_id, at, actor, kind, data) "
            "SELECT id, ?, ?, ?, ? FROM requests WHERE reference = ?",
            (_ts(now), actor, kind, json.dumps(data, ensure_ascii=False), reference),
        )

    async def insert_attachment(
        self,
        *,
        token: str,
        conversation_id: int,
        inbound_id: int | None,
        media_type: str,
        size: int,
        sha256: str,
        now: datetime,
    ) -> None:
        await self.db.execute(
            "INSERT INTO attachments (token, conversation_id, inbound_id, media_type, size, "
            "sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token, conversation_id, inbound_id, media_type, size, sha256, _ts(now)),
        )

    async def link_attachment(self, token: str, reference: str) -> None:
        await self.db.execute(
            "UPDATE attachments SET request_id = (SELECT id FROM requests WHERE reference = ?) "
            "WHERE token = ?",
            (reference, token),
        )

    async def mark_attachments_deleted(self, tokens: Sequence[str], now: datetime) -> None:
        await self.db.executemany(
            "UPDATE attachments SET deleted_at = ? WHERE token = ? AND deleted_at IS NULL",
            [(_ts(now), t) for t in tokens],
        )

    async def get_request(self, reference: str) -> RequestRecord | None:
        row = await self._one("SELECT * FROM requests WHERE reference = ?", (reference,))
        if row is None:
            return None
        events = await self._all(
            "SELECT at, actor, kind, data FROM request_events WHERE request_id = ? ORDER BY id",
            (row["id"],),
        )
        files = await self._all(
            "SELECT id, token, media_type, size, sha256, created_at, deleted_at FROM attachments "
            "WHERE request_id = ? ORDER BY id",
            (row["id"],),
        )
        views: dict[int, list[tuple[str, str, datetime]]] = {}
        for v in await self._all(
            "SELECT v.attachment_id, v.viewer, v.purpose, v.viewed_at FROM attachment_views v "
            "JOIN attachments a ON a.id = v.attachment_id WHERE a.request_id = ? ORDER BY v.id",
            (row["id"],),
        ):
            views.setdefault(v[0], []).append((v[1], v[2], datetime.fromisoformat(v[3])))
        return _request(
            row,
            events=tuple(
                RequestEvent(
                    at=datetime.fromisoformat(e["at"]),
                    actor=e["actor"],
                    kind=e["kind"],
                    data=json.loads(e["data"]),
                )
                for e in events
            ),
            attachments=tuple(
                AttachmentRecord(
                    token=f["token"],
                    media_type=f["media_type"],
                    size=f["size"],
                    sha256=f["sha256"],
                    created_at=datetime.fromisoformat(f["created_at"]),
                    deleted_at=_dt(f["deleted_at"]),
                    views=tuple(views.get(f["id"], ())),
                )
                for f in files
            ),
        )

    async def list_requests(self, status: RequestStatus | None = None) -> list[RequestRecord]:
        if status is None:
            rows = await self._all("SELECT * FROM requests ORDER BY due_date, id")
        else:
            rows = await self._all(
                "SELECT * FROM requests WHERE status = ? ORDER BY due_date, id", (status.value,)
            )
        return [_request(r) for r in rows]


def _notification(r: aiosqlite.Row) -> Notification:
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


def _conversation(row: aiosqlite.Row) -> ConversationRecord:
    return ConversationRecord(
        id=row["id"],
        channel=Channel(row["channel"]),
        address=row["address"],
        state=row["state"],
        slots=json.loads(row["slots"]),
        language=row["language"],
        failures=row["failures"],
        waiting_staff_since=_dt(row["waiting_staff_since"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        last_activity_at=_dt(row["last_activity_at"]),
        claimed_by=row["claimed_by"],
    )


def _request(row: aiosqlite.Row, **extra: Any) -> RequestRecord:
    return RequestRecord(
        id=row["id"],
        reference=row["reference"],
        type=RequestType(row["type"]),
        status=RequestStatus(row["status"]),
        channel=Channel(row["channel"]),
        customer_address=row["customer_address"],
        conversation_id=row["conversation_id"],
        language=row["language"],
        full_name=row["full_name"],
        email=row["email"],
        reason=row["reason"],
        details=json.loads(row["details"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        due_date=date.fromisoformat(row["due_date"]),
        **extra,
    )
