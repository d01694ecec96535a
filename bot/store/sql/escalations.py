"""Hand-overs to staff and their announcement in the staff group."""

from __future__ import annotations

from datetime import datetime

from bot.domain.models import Channel, Escalation
from bot.domain.timestamps import utc_iso as _ts
from bot.store.sql.queries import Queries, _dt


class SqlEscalations(Queries):
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

    async def claim_escalations(
        self, since: datetime, now: datetime, until: datetime, limit: int
    ) -> list[Escalation]:
        rows = await self._all(
            "SELECT e.id, e.conversation_id, e.reason, e.created_at, c.channel, c.language, "
            "c.waiting_staff_since IS NOT NULL AND c.claimed_by IS NULL "
            "FROM escalations e JOIN conversations c ON c.id = e.conversation_id "
            "WHERE e.announced_at IS NULL AND e.created_at >= ? AND "
            "(e.announcing_until IS NULL OR e.announcing_until <= ?) ORDER BY e.id LIMIT ?"
            + self.db.skip_locked("e"),
            (_ts(since), _ts(now), limit),
        )
        if rows:
            marks = ",".join("?" * len(rows))
            await self.db.execute(
                f"UPDATE escalations SET announcing_until = ? WHERE id IN ({marks})",
                (_ts(until), *(r[0] for r in rows)),
            )
        return [
            Escalation(r[0], r[1], r[2], _dt(r[3]) or since, Channel(r[4]), r[5], bool(r[6]))
            for r in rows
        ]

    async def release_escalations(self, escalation_ids: list[int]) -> None:
        if escalation_ids:
            marks = ",".join("?" * len(escalation_ids))
            await self.db.execute(
                f"UPDATE escalations SET announcing_until = NULL WHERE id IN ({marks})",
                escalation_ids,
            )

    async def mark_announced(self, escalation_id: int, now: datetime) -> None:
        await self.db.execute(
            "UPDATE escalations SET announced_at = ? WHERE id = ?", (_ts(now), escalation_id)
        )
