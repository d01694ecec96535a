"""Privacy requests, their events and attachments."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Collection, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from bot.domain.models import (
    AttachmentRecord,
    Channel,
    ProofView,
    RequestEvent,
    RequestRecord,
)
from bot.domain.timestamps import utc_iso as _ts
from bot.store.base import DuplicateReference
from bot.store.interface.conversations import InboundRef
from bot.store.interface.requests import QueueQuery
from bot.store.sql.queries import FORGOTTEN_LIKE, NO_LIMIT, Queries, Row, _dt
from flows.types import OPEN_STATUSES, RequestStatus, RequestType

REQUESTS_FOR_ADDRESS = (
    "SELECT * FROM requests WHERE channel = :channel AND customer_address = :address "
    "ORDER BY id DESC"
)


class SqlRequests(Queries):
    async def open_requests_for_email(self, email: str) -> list[RequestRecord]:
        rows = await self._all(
            "SELECT * FROM requests WHERE lower(email) = lower(?) AND status IN "
            f"({', '.join('?' * len(OPEN_STATUSES))}) ORDER BY id",
            (email, *(s.value for s in OPEN_STATUSES)),
        )
        return [_request(r) for r in rows]

    async def requests_for_address(self, channel: Channel, address: str) -> list[RequestRecord]:
        rows = await self._all(REQUESTS_FOR_ADDRESS, {"channel": channel.value, "address": address})
        return [_request(r) for r in rows]

    async def latest_request_email(self, channel: Channel, address: str) -> str | None:
        # Stored times are one text format (``utc_iso``): ordered as text, in time order.
        row = await self._one(
            "SELECT email FROM requests WHERE channel = ? AND customer_address = ? "
            "AND email NOT LIKE ? ORDER BY created_at DESC, id DESC LIMIT 1",
            (channel.value, address, FORGOTTEN_LIKE),
        )
        return str(row[0]) if row else None

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
        row = await self._one(
            "INSERT INTO requests (reference, type, status, channel, customer_address, "
            "conversation_id, language, full_name, email, reason, details, created_at, "
            "updated_at, due_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (reference) DO NOTHING RETURNING id",
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
        if row is None:
            raise DuplicateReference(reference)
        return int(row[0])

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
            RequestStatus.INFO_RECEIVED,
        )
        await self.db.execute(
            "UPDATE requests SET status = ?, updated_at = ?, "
            "retention_from = CASE WHEN ? = 1 AND retention_from IS NULL THEN ? "
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

    async def flag_request(self, reference: str) -> None:
        await self.db.execute(
            "UPDATE requests SET needs_attention = 1 WHERE reference = ?", (reference,)
        )

    async def insert_attachment(
        self,
        *,
        token: str,
        conversation_id: int,
        inbound_id: InboundRef | None,
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

    async def record_attachment_view(
        self,
        token: str,
        viewer: str,
        purpose: str,
        now: datetime,
        reason: str = "",
        address: str | None = None,
    ) -> None:
        await self.db.execute(
            "INSERT INTO attachment_views "
            "(attachment_id, viewer, purpose, viewed_at, reason, address) "
            "SELECT id, ?, ?, ?, ?, ? FROM attachments WHERE token = ?",
            (viewer, purpose, _ts(now), reason, address, token),
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
        views: dict[int, list[ProofView]] = {}
        for v in await self._all(
            "SELECT v.attachment_id, v.viewer, v.purpose, v.viewed_at, v.reason "
            "FROM attachment_views v JOIN attachments a ON a.id = v.attachment_id "
            "WHERE a.request_id = ? ORDER BY v.id",
            (row["id"],),
        ):
            view = ProofView(v[1], v[2], datetime.fromisoformat(v[3]), v[4])
            views.setdefault(v[0], []).append(view)
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

    async def list_requests(
        self,
        status: RequestStatus | Collection[RequestStatus] | None = None,
        type: RequestType | Collection[RequestType] | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        *,
        email: str | None = None,
    ) -> list[RequestRecord]:
        where: list[str] = []
        params: list[Any] = []
        for column, wanted in (("status", status), ("type", type)):
            if wanted is None:
                continue
            values = [wanted.value] if isinstance(wanted, StrEnum) else [w.value for w in wanted]
            if not values:
                return []
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params += values
        if search:
            # casefold(): Python's, registered on the connection (SQLite's
            # lower() folds ASCII only, and an email need not be ASCII).
            where.append("(instr(casefold(reference), ?) > 0 OR casefold(email) = ?)")
            params += [search.casefold()] * 2
        if email is not None:
            where.append("casefold(email) = ?")
            params.append(email.casefold())
        sql = "SELECT * FROM requests"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY due_date, id"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [NO_LIMIT if limit is None else limit, offset]
        return [_request(r) for r in await self._all(sql, params)]

    async def queue_page(self, query: QueueQuery) -> tuple[list[RequestRecord], int]:
        where: list[str] = []
        params: list[Any] = []
        for column, wanted in (("status", query.statuses), ("type", query.types)):
            if wanted is None:
                continue
            values = [w.value for w in wanted]
            if not values:
                return [], 0
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params += values
        searched = _queue_search(query.search)
        if searched:
            where.append(searched[0])
            params += searched[1]
        condition = (" WHERE " + " AND ".join(where)) if where else ""
        order = _QUEUE_ORDER.get(query.sort, _QUEUE_ORDER["due"])
        way = "DESC" if query.descending else "ASC"
        keys = ", ".join(f"{key} {way}" for key in order)
        page = [NO_LIMIT if query.limit is None else max(query.limit, 0), max(query.offset, 0)]
        if searched:
            return await self._searched_page(condition, keys, [*params, *page])
        row = await self._one(f"SELECT count(*) FROM requests{condition}", params)
        total = int(row[0]) if row else 0
        # The page's ids sorted first (on an index, or a narrow sort), then
        # their rows: a far page does not carry every earlier row through the sort.
        rows = await self._all(
            f"SELECT * FROM requests WHERE id IN (SELECT id FROM requests{condition} "
            f"ORDER BY {keys} LIMIT ? OFFSET ?) ORDER BY {keys}",
            [*params, *page],
        )
        return [_request(r) for r in rows], total

    async def _searched_page(
        self, condition: str, keys: str, params: list[Any]
    ) -> tuple[list[RequestRecord], int]:
        """A searched queue's page and count from one reading of the table, in
        its own order (through the status index it would be a lookup a row):
        what the search and the sort need of each request found is kept, then
        counted and sorted; the page's rows are read by id. One row with no
        request when the page is past the end, for the count."""
        rows = await self._all(
            f"WITH hits AS MATERIALIZED (SELECT {_SORTED_BY} FROM requests NOT INDEXED"
            f"{condition}), page AS (SELECT id FROM hits ORDER BY {keys} LIMIT ? OFFSET ?) "
            "SELECT (SELECT count(*) FROM hits) AS queue_total, r.* FROM (SELECT 1) AS one "
            f"LEFT JOIN requests r ON r.id IN (SELECT id FROM page) ORDER BY {keys}",
            params,
        )
        total = int(rows[0]["queue_total"]) if rows else 0
        return [_request(r) for r in rows if r["id"] is not None], total

    async def answered_asks(self, asker: str) -> list[RequestRecord]:
        rows = await self._all(
            "SELECT * FROM requests r WHERE r.status = ? AND casefold(("
            "SELECT e.actor FROM request_events e WHERE e.request_id = r.id "
            "AND e.kind = 'ask' ORDER BY e.id DESC LIMIT 1)) = ? ORDER BY r.due_date, r.id",
            (RequestStatus.INFO_RECEIVED.value, asker.casefold()),
        )
        return [_request(r) for r in rows]


# Sort key -> the columns ordered by (all in the one direction asked); the
# last ones break ties, so a page boundary never shows a request twice.
_STATUS_ORDER = " ".join(f"WHEN '{s.value}' THEN {n}" for n, s in enumerate(RequestStatus))
_QUEUE_ORDER: dict[str, tuple[str, ...]] = {
    "due": ("due_date", "id"),
    "days": ("due_date", "id"),
    "filed": ("created_at", "id"),
    "name": ("coalesce(name_folded, casefold(full_name))", "due_date", "id"),
    "email": ("coalesce(email_folded, casefold(email))", "due_date", "id"),
    "channel": ("channel", "due_date", "id"),
    "reference": ("reference", "id"),
    "type": ("type", "due_date", "id"),
    "status": (f"CASE status {_STATUS_ORDER} END", "due_date", "id"),
}
# The columns the orders above read (and the search's id).
_SORTED_BY = (
    "id, due_date, created_at, full_name, email, name_folded, email_folded, channel, "
    "reference, type, status"
)
# What a reference is compared as: no dash, upper case, and the letters
# Crockford's base32 reads as digits read so on both sides (O as 0, I and L
# as 1, as ``flows.validators.parse_reference`` forgives them), so "del7k3"
# and "DEL-7K3" find the same request whatever the prefix's letters are.
# Stored so (``reference_folded``, migration 0017), as are the email and
# the name casefolded when casefold is SQLite's lower() (ASCII; else NULL,
# and folded here when searched): no Python call per request searched.
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _queue_search(typed: str) -> tuple[str, list[str]] | None:
    """The queue search as SQL: part of the reference, the email or the name."""
    # Names and emails are stored as customers typed them, in NFC (``clean_text``).
    needle = unicodedata.normalize("NFC", typed).strip().casefold()
    if not needle:
        return None
    sql = (
        "(instr(coalesce(email_folded, casefold(email)), ?) > 0 "
        "OR instr(coalesce(name_folded, casefold(full_name)), ?) > 0"
    )
    params = [needle, needle]
    # A reference is ASCII; full-width or other compatibility forms read as it.
    written = unicodedata.normalize("NFKC", needle).upper()
    compact = "".join(ch for ch in written if ch.isascii() and ch.isalnum())
    if compact:
        sql += " OR instr(reference_folded, ?) > 0"
        params.append(compact.translate(_ALIASES))
    return sql + ")", params


def _request(row: Row, **extra: Any) -> RequestRecord:
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
