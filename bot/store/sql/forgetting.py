"""Forgetting, retention and purges."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.domain.models import FORGOTTEN_EMAIL_PREFIX
from bot.domain.timestamps import utc_iso as _ts
from bot.store.sql.queries import FORGOTTEN_LIKE, Queries, Row

# A proof-view reason picked from the console's list is a code (lowercase
# letters and "_"); anything else was typed in words and goes when forgetting.
_REASON_CODE = re.compile(r"[a-z_]*")
# What a notice keeps of its parameters once its customer is forgotten.
_NOTICE_KEEPS = ("reference", "type", "due_date")


def _without_words(data: dict[str, Any]) -> dict[str, Any]:
    """A status event without what people wrote in it."""
    return {k: v for k, v in data.items() if k not in ("reason", "message", "text")}


def _only_reference(params: dict[str, Any]) -> dict[str, Any]:
    return {k: params.get(k) for k in _NOTICE_KEEPS}


class SqlForgetting(Queries):
    async def drop_compliance_records(self, before: datetime) -> int:
        rows = await self._all(
            "SELECT id FROM requests WHERE email LIKE ? AND updated_at < ?",
            (FORGOTTEN_LIKE, _ts(before)),
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
            "AND email NOT LIKE ? ORDER BY id",
            (FORGOTTEN_LIKE,),
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
        # Who looked at the files stays; a reason typed in words goes (a reason
        # from the console's list is a code: lowercase letters and "_").
        typed = [
            (r[0],)
            for r in await self._all(
                f"SELECT id, reason FROM attachment_views WHERE reason <> '' AND "
                f"attachment_id IN (SELECT id FROM attachments WHERE request_id IN ({marks}) OR "
                f"conversation_id IN ({convs}))",
                (*request_ids, *conversations),
            )
            if not _REASON_CODE.fullmatch(r[1])
        ]
        if typed:
            await self.db.executemany("UPDATE attachment_views SET reason = '' WHERE id = ?", typed)
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
            (FORGOTTEN_EMAIL_PREFIX + email_digest, *request_ids),
        )
        # The status history stays; what people wrote in it does not.
        # (JSON edited here rather than in SQL, whose JSON functions differ
        # between SQLite and PostgreSQL; a customer has few of these rows.)
        events = await self._all(
            f"SELECT id, data FROM request_events WHERE request_id IN ({marks})", request_ids
        )
        await self._rewrite_json("request_events", "data", events, _without_words)
        notices = await self._all(
            f"SELECT id, params FROM notifications WHERE request_id IN ({marks})", request_ids
        )
        await self._rewrite_json("notifications", "params", notices, _only_reference)
        await self.db.execute(
            f"UPDATE notifications SET address = '' WHERE status <> 'pending' "
            f"AND request_id IN ({marks})",
            request_ids,
        )
        return tokens

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

    async def _rewrite_json(
        self,
        table: str,
        column: str,
        rows: Sequence[Row],
        change: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        changed = []
        for row_id, text in rows:
            before = json.loads(text or "{}")
            after = change(before)
            if after != before:
                changed.append((json.dumps(after, ensure_ascii=False), row_id))
        if changed:
            await self.db.executemany(f"UPDATE {table} SET {column} = ? WHERE id = ?", changed)
