"""Staff chats and escalations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.models import ConversationRecord, StaffReply, TranscriptLine
from bot.domain.timestamps import utc_iso as _ts
from bot.store.interface.chats import ChatFile, ChatMessage, ChatSummary, ReadyAnswer
from bot.store.sql.conversations import _conversation
from bot.store.sql.queries import FORGOTTEN_LIKE, Queries, Row, _dt

# Chats staff have been part of: handed over, held, or acted on. Gathered
# from the indexes of each part (staff's chats: 0009's partial index), not by
# asking every conversation the desk ever had.
_HANDED = (
    "c.id IN (SELECT id FROM conversations WHERE claimed_by IS NOT NULL OR "
    "waiting_staff_since IS NOT NULL UNION ALL SELECT conversation_id FROM escalations "
    "UNION ALL SELECT conversation_id FROM chat_events)"
)
_WAITING = "(c.waiting_staff_since IS NOT NULL AND c.claimed_by IS NULL)"
# A chat's customer as far as its draft or the requests from its address tell.
_THEIR_REQUESTS = (
    "FROM requests r WHERE r.channel = c.channel AND r.customer_address = c.address "
    "AND r.email NOT LIKE '" + FORGOTTEN_LIKE + "'"
)
_NAME = (
    "coalesce(nullif(json_extract(c.slots, '$.full_name'), ''), (SELECT r.full_name "
    + _THEIR_REQUESTS
    + " ORDER BY r.id DESC LIMIT 1))"
)
_EMAIL = (
    "coalesce(nullif(json_extract(c.slots, '$.email'), ''), (SELECT r.email "
    + _THEIR_REQUESTS
    + " ORDER BY r.id DESC LIMIT 1))"
)
_MATCHES = (
    "(instr(lower(c.address), :q) > 0 OR instr(c.address, :number) > 0 OR "
    "instr(lower(coalesce(json_extract(c.slots, '$.full_name'), '')), :q) > 0 OR "
    "instr(lower(coalesce(json_extract(c.slots, '$.email'), '')), :q) > 0 OR "
    "EXISTS (SELECT 1 " + _THEIR_REQUESTS + " AND (instr(lower(r.full_name), :q) > 0 OR "
    "instr(lower(r.email), :q) > 0 OR instr(lower(r.reference), :q) > 0)))"
)
_ORDER = {
    "waiting": "c.waiting_staff_since, c.id",
    "mine": "coalesce(c.last_activity_at, c.updated_at) DESC, c.id DESC",
    "all": (
        "CASE WHEN " + _WAITING + " THEN 0 WHEN c.claimed_by IS NOT NULL THEN 1 ELSE 2 END, "
        "CASE WHEN " + _WAITING + " THEN c.waiting_staff_since END, "
        "coalesce(c.last_activity_at, c.updated_at) DESC, c.id DESC"
    ),
}
_SUMMARY = (
    "SELECT c.*, " + _NAME + " AS who_name, " + _EMAIL + " AS who_email, "
    "(SELECT reason FROM escalations e WHERE e.conversation_id = c.id ORDER BY e.id DESC "
    "LIMIT 1) AS why, (SELECT max(id) FROM inbound_messages i WHERE i.conversation_id = c.id) "
    "> coalesce((SELECT last_inbound_id FROM chat_reads cr WHERE cr.staff = :staff AND "
    "cr.conversation_id = c.id), 0) AS unread FROM conversations c"
)
# A chat's latest message. A page of chats asks for theirs in one statement
# (``_LATEST``: one such part per chat), each part sorting one chat's lines.
_LAST = (
    "SELECT * FROM (SELECT ? AS chat, at, who, text, sealed FROM (SELECT received_at AS at, "
    "'customer' AS who, text, 0 AS sealed, 0 AS k, id FROM inbound_messages WHERE "
    "conversation_id = ? UNION ALL SELECT created_at, CASE WHEN author IS NOT NULL OR "
    "(inbound_id IS NULL AND message_key LIKE 'staff.%') THEN 'staff' ELSE 'bot' END, text, "
    "sealed, 1, id FROM outbound_messages WHERE conversation_id = ?) AS lines "
    "ORDER BY at DESC, k DESC, id DESC LIMIT 1) AS latest"
)
_LATEST_AT_ONCE = 100  # parts of one statement (SQLite allows 500)


class SqlChats(Queries):
    async def staff_queue(self, staff: str, everyone: bool = False) -> list[ConversationRecord]:
        rows = await self._all(
            "SELECT * FROM conversations WHERE (waiting_staff_since IS NOT NULL AND "
            "claimed_by IS NULL) OR claimed_by = ? OR (? = 1 AND claimed_by IS NOT NULL) "
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
            " CASE WHEN sent_at IS NULL OR coalesce(delivery_status, '') IN ('failed', "
            "'undelivered') THEN 1 ELSE 0 END,"
            " sealed FROM outbound_messages WHERE conversation_id = ?"
            " UNION ALL SELECT created_at, 'note:' || author, text, 9e18, 2, id, 0, 0"
            " FROM staff_notes WHERE conversation_id = ?"
            " UNION ALL SELECT created_at, 'event:' || actor, kind || CASE WHEN detail = '' THEN ''"
            " ELSE ' ' || detail END, 9e18, 3, id, 0, 0 FROM chat_events"
            " WHERE conversation_id = ?) AS lines"
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

    # -- the inbox ---------------------------------------------------------
    async def chat_list(
        self, staff: str, tab: str, query: str = "", limit: int = 25, offset: int = 0
    ) -> tuple[list[ChatSummary], int]:
        where = {"mine": "c.claimed_by = :staff", "waiting": _WAITING}.get(tab, _HANDED)
        if query.strip():
            where += " AND " + _MATCHES
        params = {
            "staff": staff,
            "q": query.strip().lower(),
            "number": _as_stored_number(query),
            "limit": limit,
            "offset": offset,
        }
        (total,) = await self._one(f"SELECT count(*) FROM conversations c WHERE {where}", params)
        # The page's chats first, by the cheap columns the order needs; then
        # who each customer is and their latest message, for those only.
        page = await self._all(
            f"SELECT c.id FROM conversations c WHERE {where} "
            f"ORDER BY {_ORDER.get(tab, _ORDER['all'])} LIMIT :limit OFFSET :offset",
            params,
        )
        ids = [r[0] for r in page]
        if not ids:
            return [], int(total)
        named = {f"c{n}": chat for n, chat in enumerate(ids)}
        rows = await self._all(
            f"{_SUMMARY} WHERE c.id IN ({', '.join(':' + k for k in named)})",
            {"staff": staff, **named},
        )
        found = {r["id"]: r for r in rows}
        return await self._summaries([found[i] for i in ids if i in found]), int(total)

    async def _summaries(self, rows: list[Row]) -> list[ChatSummary]:
        ids = [r["id"] for r in rows]
        latest: dict[int, Row] = {}
        for start in range(0, len(ids), _LATEST_AT_ONCE):
            chunk = ids[start : start + _LATEST_AT_ONCE]
            sql = " UNION ALL ".join([_LAST] * len(chunk))
            for found in await self._all(sql, [v for chat in chunk for v in (chat,) * 3]):
                latest[found["chat"]] = found
        return [_summary(row, latest.get(row["id"])) for row in rows]

    async def chat_counts(self, staff: str) -> tuple[int, int]:
        row = await self._one(
            "SELECT (SELECT count(*) FROM conversations c WHERE c.claimed_by = :staff AND "
            "(SELECT max(id) FROM inbound_messages i WHERE i.conversation_id = c.id) > "
            "coalesce((SELECT last_inbound_id FROM chat_reads cr WHERE cr.staff = :staff AND "
            "cr.conversation_id = c.id), 0)), (SELECT count(*) FROM conversations c WHERE "
            + _WAITING
            + ")",
            {"staff": staff},
        )
        mine, waiting = (int(row[0]), int(row[1])) if row else (0, 0)
        return mine, mine + waiting

    async def earlier_chats(self, conversation: ConversationRecord) -> list[ChatSummary]:
        # Each part found by its index (0017: conversations by address,
        # requests by lower-cased email), not by reading every chat.
        rows = await self._all(
            f"{_SUMMARY} WHERE c.id != :id AND c.id IN (SELECT id FROM conversations WHERE "
            "address = :address UNION ALL SELECT r2.conversation_id FROM requests r2 WHERE "
            "lower(r2.email) IN (SELECT lower(r3.email) FROM requests r3 WHERE "
            "r3.channel = :channel AND r3.customer_address = :address AND "
            "r3.email NOT LIKE :forgotten) UNION ALL SELECT r2.conversation_id FROM requests r2 "
            "WHERE lower(r2.email) = lower(:email)) "
            "ORDER BY c.id DESC LIMIT 20",
            {
                "staff": "",
                "id": conversation.id,
                "address": conversation.address,
                "channel": conversation.channel.value,
                "forgotten": FORGOTTEN_LIKE,
                "email": str(conversation.slots.get("email") or ""),
            },
        )
        return await self._summaries(rows)

    async def chat_messages(self, conversation_id: int) -> list[ChatMessage]:
        files: dict[int, list[ChatFile]] = {}
        for f in await self._all(
            "SELECT id, token, inbound_id, media_type, size, deleted_at FROM attachments "
            "WHERE conversation_id = ? AND inbound_id IS NOT NULL ORDER BY id",
            (conversation_id,),
        ):
            files.setdefault(f["inbound_id"], []).append(_file(f))
        rerouted: dict[int, str] = {}
        refused: set[int] = set()
        for e in await self._all(
            "SELECT kind, detail FROM chat_events WHERE conversation_id = ? AND kind IN "
            "('rerouted', 'not_sent') ORDER BY id",
            (conversation_id,),
        ):
            outbound, _, route = str(e["detail"]).partition(" -> ")
            if outbound.isdigit() and e["kind"] == "rerouted":
                rerouted[int(outbound)] = route
            elif outbound.isdigit():
                refused.add(int(outbound))
        lines: list[tuple[tuple[Any, ...], ChatMessage]] = []
        for r in await self._all(
            "SELECT id, received_at, text FROM inbound_messages WHERE conversation_id = ?",
            (conversation_id,),
        ):
            at = datetime.fromisoformat(r["received_at"])
            found = tuple(files.get(r["id"], ()))
            message = ChatMessage(r["id"], "in", at, "customer", r["text"], files=found)
            lines.append(((r["received_at"], r["id"], 0, r["id"]), message))
        for r in await self._all(
            "SELECT o.id, o.created_at, o.inbound_id, o.text, o.sealed, o.sent_at, "
            "o.delivery_status, CASE WHEN o.author IS NOT NULL THEN 'staff:' || o.author "
            "WHEN o.inbound_id IS NULL AND o.message_key LIKE 'staff.%' THEN 'staff' ELSE 'bot' "
            "END AS who, (SELECT d.error_code FROM delivery_events d WHERE d.outbound_id = o.id "
            "AND d.error_code IS NOT NULL ORDER BY d.id DESC LIMIT 1) AS error "
            "FROM outbound_messages o WHERE o.conversation_id = ?",
            (conversation_id,),
        ):
            message = ChatMessage(
                r["id"],
                "out",
                datetime.fromisoformat(r["created_at"]),
                r["who"],
                r["text"],
                sealed=bool(r["sealed"]),
                sent=r["sent_at"] is not None,
                delivery=r["delivery_status"],
                error=r["error"],
                rerouted=rerouted.get(r["id"]),
                refused=r["id"] in refused,
            )
            turn = r["inbound_id"] if r["inbound_id"] is not None else 9e18
            lines.append(((r["created_at"], turn, 1, r["id"]), message))
        for r in await self._all(
            "SELECT id, created_at, 'note:' || author AS who, text, 2 AS k, 'note' AS kind "
            "FROM staff_notes WHERE conversation_id = ? UNION ALL SELECT id, created_at, "
            "'event:' || actor, kind || CASE WHEN detail = '' THEN '' ELSE ' ' || detail END, "
            "3, 'event' FROM chat_events WHERE conversation_id = ?",
            (conversation_id, conversation_id),
        ):
            at = datetime.fromisoformat(r["created_at"])
            message = ChatMessage(r["id"], r["kind"], at, r["who"], r["text"])
            lines.append(((r["created_at"], 9e18, r["k"], r["id"]), message))
        lines.sort(key=lambda pair: pair[0])
        return [message for _, message in lines]

    async def chat_file(self, conversation_id: int, file_id: int) -> ChatFile | None:
        row = await self._one(
            "SELECT id, token, inbound_id, media_type, size, deleted_at FROM attachments "
            "WHERE id = ? AND conversation_id = ?",
            (file_id, conversation_id),
        )
        return _file(row) if row else None

    async def note_not_sent(self, conversation_id: int, staff: str, now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO chat_events (conversation_id, actor, kind, detail, created_at) "
            "SELECT ?, ?, 'not_sent', max(id), ? FROM outbound_messages WHERE "
            "conversation_id = ? AND author = ? AND sent_at IS NULL HAVING max(id) IS NOT NULL",
            (conversation_id, staff, _ts(now), conversation_id, staff),
        )

    async def chat_files_due(self, cutoff: datetime) -> list[str]:
        rows = await self._all(
            "SELECT a.token FROM attachments a JOIN conversations c ON c.id = a.conversation_id "
            "WHERE a.deleted_at IS NULL AND a.request_id IS NULL AND a.created_at <= ? "
            "AND instr(c.slots, a.token) = 0 ORDER BY a.id",
            (_ts(cutoff),),
        )
        return [r[0] for r in rows]

    async def mark_chat_read(self, staff: str, conversation_id: int, now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO chat_reads (staff, conversation_id, last_inbound_id, read_at) "
            "SELECT ?, ?, coalesce(max(id), 0), ? FROM inbound_messages WHERE conversation_id = ? "
            "ON CONFLICT (staff, conversation_id) DO UPDATE SET "
            "last_inbound_id = excluded.last_inbound_id, read_at = excluded.read_at",
            (staff, conversation_id, _ts(now), conversation_id),
        )

    # -- ready answers -------------------------------------------------------
    async def ready_answers(self) -> list[ReadyAnswer]:
        rows = await self._all("SELECT * FROM ready_answers ORDER BY id")
        return [
            ReadyAnswer(
                r["id"],
                r["key"],
                r["text_id"],
                r["text_en"],
                datetime.fromisoformat(r["updated_at"]),
                r["updated_by"],
            )
            for r in rows
        ]

    async def ready_answers_seeded(self) -> bool:
        return await self._one("SELECT 1 FROM ready_answers_seeded") is not None

    async def seed_ready_answers(self, answers: dict[str, tuple[str, str]], now: datetime) -> None:
        if await self.ready_answers_seeded():
            return
        for key, (text_id, text_en) in answers.items():
            await self.db.execute(
                "INSERT INTO ready_answers (key, text_id, text_en, created_at, "
                "updated_at, updated_by) VALUES (?, ?, ?, ?, ?, 'system') "
                "ON CONFLICT DO NOTHING",
                (key, text_id, text_en, _ts(now), _ts(now)),
            )
        await self.db.execute(
            "INSERT INTO ready_answers_seeded (seeded_at) VALUES (?)", (_ts(now),)
        )

    async def save_ready_answer(
        self, answer_id: int | None, text_id: str, text_en: str, staff: str, now: datetime
    ) -> bool:
        if answer_id is None:
            await self.db.execute(
                "INSERT INTO ready_answers (text_id, text_en, created_at, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?)",
                (text_id, text_en, _ts(now), _ts(now), staff),
            )
            return True
        cur = await self.db.execute(
            "UPDATE ready_answers SET text_id = ?, text_en = ?, updated_at = ?, updated_by = ? "
            "WHERE id = ?",
            (text_id, text_en, _ts(now), staff, answer_id),
        )
        return cur.rowcount > 0

    async def delete_ready_answer(self, answer_id: int) -> bool:
        cur = await self.db.execute("DELETE FROM ready_answers WHERE id = ?", (answer_id,))
        return cur.rowcount > 0

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
            "coalesce(waiting_staff_since, ''), ',') FROM conversations "
            "WHERE claimed_by IS NOT NULL OR waiting_staff_since IS NOT NULL)",
            (),
        )
        return "|".join(str(v) for v in row) if row else ""


def _as_stored_number(query: str) -> str:
    """A phone number as people type it in Indonesia ("0812-3456 7890") as
    channels store it ("+62812..."); anything else stays as typed."""
    digits = "".join(ch for ch in query if ch not in " -.()")
    if digits.isdigit() and digits.startswith("0") and len(digits) >= 6:
        return "+62" + digits[1:]
    return query.strip().lower()


def _summary(row: Row, last: Row | None) -> ChatSummary:
    return ChatSummary(
        chat=_conversation(row),
        name=row["who_name"] or None,
        email=row["who_email"] or None,
        reason=row["why"],
        last_who=last["who"] if last else "bot",
        last_text=None if last is None or last["sealed"] or not last["text"] else last["text"],
        last_at=_dt(last["at"]) if last else None,
        unread=bool(row["unread"]),
    )


def _file(row: Row) -> ChatFile:
    return ChatFile(
        id=row["id"],
        token=row["token"],
        inbound_id=row["inbound_id"],
        media_type=row["media_type"],
        size=row["size"],
        deleted=row["deleted_at"] is not None,
    )
