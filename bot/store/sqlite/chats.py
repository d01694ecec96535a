"""Staff chats and escalations in SQLite."""

from __future__ import annotations

from datetime import datetime

from bot.domain.models import Channel, ConversationRecord, Escalation, StaffReply, TranscriptLine
from bot.domain.timestamps import utc_iso as _ts
from bot.store.sqlite.conversations import _conversation
from bot.store.sqlite.queries import Queries, _dt


class SQLiteChats(Queries):
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

    async def transcript(self, conversation_id: int) -> list[TranscriptLine]:
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
        return [
            TranscriptLine(
                at=datetime.fromisoformat(r["at"]),
                who=r["who"],
                text=r["text"],
                problem=bool(r["problem"]),
                sealed=bool(r["sealed"]),
            )
            for r in rows
        ]

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

    async def staff_reply(self, outbound_id: int) -> StaffReply | None:
        row = await self._one(
            "SELECT conversation_id, author, text, EXISTS (SELECT 1 FROM chat_events e WHERE "
            "e.conversation_id = o.conversation_id AND e.kind = 'undelivered' AND "
            "e.detail LIKE o.id || ' %') AS rerouted FROM outbound_messages o "
            "WHERE o.id = ? AND o.author IS NOT NULL AND o.message_key = 'staff.reply'",
            (outbound_id,),
        )
        if row is None:
            return None
        return StaffReply(
            conversation_id=row["conversation_id"],
            author=row["author"],
            text=row["text"],
            rerouted=bool(row["rerouted"]),
        )

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
            # A notification queued, sent or given up, or reported by its provider
            # (the request page shows their state); counted on the outbox's index.
            "(SELECT max(id) FROM notifications), (SELECT count(*) FROM notifications "
            "WHERE status = 'pending'), (SELECT max(id) FROM delivery_events), "
            "(SELECT group_concat(id || ':' || coalesce(claimed_by, '') || ':' || "
            "coalesce(waiting_staff_since, '')) FROM conversations WHERE claimed_by IS NOT NULL "
            "OR waiting_staff_since IS NOT NULL)",
            (),
        )
        return "|".join(str(v) for v in row) if row else ""
