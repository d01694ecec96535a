"""The dashboard's counts and the audit view's lines."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta

from bot.domain.records_staff import AuditLine
from bot.domain.timestamps import utc_iso as _ts
from bot.store.sql.queries import Queries

# Every source of the audit view as the same columns: kind, actor, subject,
# detail, address, at (and the row's id, "seq", so lines of one moment keep their
# order). Times are stored in one UTC format, so they sort as text. A page
# takes, from each source, only its newest lines up to the page's end (each
# read newest first along an index: 0017's for ID-proof views), then sorts
# those few: the newest lines of all are among them.
_AUDIT_PARTS = (
    "SELECT 'proof_view' AS kind, v.viewer AS actor, coalesce(r.reference, '') AS subject, "
    "v.purpose AS detail, v.address AS address, v.viewed_at AS at, v.id AS seq "
    "FROM attachment_views v JOIN attachments a ON a.id = v.attachment_id "
    "LEFT JOIN requests r ON r.id = a.request_id",
    "SELECT 'download' AS kind, 'customer' AS actor, r.reference AS subject, '' AS detail, "
    "json_extract(e.data, '$.address') AS address, e.at AS at, e.id AS seq "
    "FROM request_events e JOIN requests r ON r.id = e.request_id WHERE e.kind = 'downloaded'",
    "SELECT 'account' AS kind, actor, subject, action AS detail, address, created_at AS at, "
    "id AS seq FROM staff_audit",
    "SELECT kind, actor, subject, '' AS detail, address, at, id AS seq FROM access_log",
)


def _marks(values: Collection[str]) -> str:
    return ",".join("?" * len(values))


class SqlDesk(Queries):
    async def count_requests_by_status(self, statuses: Collection[str]) -> dict[str, int]:
        if not statuses:
            return {}
        rows = await self._all(
            f"SELECT status, count(*) FROM requests WHERE status IN ({_marks(statuses)}) "
            "GROUP BY status",
            list(statuses),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def count_due_between(self, statuses: Collection[str], first: date, last: date) -> int:
        if not statuses:
            return 0
        row = await self._one(
            f"SELECT count(*) FROM requests WHERE status IN ({_marks(statuses)}) "
            "AND due_date BETWEEN ? AND ?",
            [*statuses, first.isoformat(), last.isoformat()],
        )
        return int(row[0]) if row else 0

    async def count_completed_on_time(
        self, since: datetime, utc_offset_minutes: int
    ) -> tuple[int, int]:
        # The local day of each completion, counted here: the two databases
        # have no date arithmetic in common. A month's completions are few.
        rows = await self._all(
            "SELECT e.at, r.due_date FROM request_events e JOIN requests r "
            "ON r.id = e.request_id WHERE e.kind = 'complete' AND e.at >= ?",
            (_ts(since),),
        )
        offset = timedelta(minutes=utc_offset_minutes)
        on_time = sum(
            1 for at, due in rows if (datetime.fromisoformat(at) + offset).date().isoformat() <= due
        )
        return len(rows), on_time

    async def add_access_log(
        self, kind: str, actor: str | None, subject: str, address: str, now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO access_log (kind, actor, subject, address, at) VALUES (?, ?, ?, ?, ?)",
            (kind, actor, subject, address, _ts(now)),
        )

    async def audit_lines(self, kinds: Collection[str], limit: int, offset: int) -> list[AuditLine]:
        if not kinds:
            return []
        newest = " UNION ALL ".join(
            f"SELECT * FROM (SELECT * FROM ({part}) AS lines WHERE kind IN ({_marks(kinds)}) "
            f"ORDER BY at DESC, seq DESC LIMIT ?) AS part{i}"
            for i, part in enumerate(_AUDIT_PARTS)
        )
        rows = await self._all(
            f"SELECT * FROM ({newest}) AS newest ORDER BY at DESC, seq DESC LIMIT ? OFFSET ?",
            [*[v for _ in _AUDIT_PARTS for v in (*kinds, limit + offset)], limit, offset],
        )
        return [
            AuditLine(
                kind=r["kind"],
                actor=r["actor"],
                subject=r["subject"],
                detail=r["detail"],
                address=r["address"],
                at=datetime.fromisoformat(r["at"]),
            )
            for r in rows
        ]
