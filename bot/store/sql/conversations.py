"""Conversations and their messages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from bot.domain.models import Channel, ConversationRecord, CustomerMessage, RecordedReply
from bot.domain.timestamps import utc_iso as _ts
from bot.store.interface.conversations import InboundRef, MessageContext
from bot.store.sql.codes import _code
from bot.store.sql.queries import Queries, Row, _dt
from bot.store.sql.requests import REQUESTS_FOR_ADDRESS, _request

# ``json.dumps`` with an option builds a new encoder on every call.
_json = json.JSONEncoder(ensure_ascii=False).encode


class SqlConversations(Queries):
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

    async def message_context(
        self, channel: Channel, address: str, external_id: str
    ) -> MessageContext:
        key = {"channel": channel.value, "address": address, "id": external_id}
        context, requests, code = await self.db.many(
            [
                (
                    "SELECT c.*, s.id AS seen_id, s.address AS seen_sender FROM (SELECT 1) AS one "
                    "LEFT JOIN conversations c ON c.channel = :channel AND c.address = :address "
                    "LEFT JOIN (SELECT i.id, sc.address FROM inbound_messages i "
                    "JOIN conversations sc ON sc.id = i.conversation_id "
                    "WHERE i.channel = :channel AND i.external_id = :id) s ON TRUE",
                    key,
                ),
                (REQUESTS_FOR_ADDRESS, key),
                (
                    "SELECT * FROM email_codes WHERE conversation_id = (SELECT id FROM "
                    "conversations WHERE channel = :channel AND address = :address)",
                    key,
                ),
            ]
        )
        (row,) = context  # one row, whatever exists
        return MessageContext(
            seen=row["seen_id"],
            sender=row["seen_sender"],
            conversation=_conversation(row) if row["id"] is not None else None,
            requests=[_request(r) for r in requests],
            code=_code(code[0]) if code else None,
        )

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
        created = await self._one(
            "INSERT INTO conversations (channel, address, state, slots, language, failures, "
            "created_at, updated_at) VALUES (?, ?, ?, '{}', ?, 0, ?, ?) RETURNING *",
            (channel.value, address, state, language, _ts(now), _ts(now)),
        )
        assert created is not None
        return _conversation(created)

    async def save_conversation(self, c: ConversationRecord) -> None:
        # Nothing is read back: it goes with the transaction's next trip.
        self.db.defer(
            "UPDATE conversations SET state = ?, slots = ?, language = ?, failures = ?, "
            "waiting_staff_since = ?, updated_at = ?, last_activity_at = ?, claimed_by = ? "
            "WHERE id = ?",
            (
                c.state,
                _json(c.slots),
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

    async def get_conversation_by_id(self, conversation_id: int) -> ConversationRecord | None:
        row = await self._one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        return _conversation(row) if row else None

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
    ) -> InboundRef:
        # Sent with the message's next statements (its replies): one trip less.
        return self.db.defer_insert(
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

    async def record_outbound(
        self,
        conversation_id: int,
        inbound_id: InboundRef | None,
        language: str,
        state: str,
        replies: Sequence[tuple[str, str, tuple[tuple[str, str], ...]]],
        now: datetime,
        author: str | None = None,
        sealed: Sequence[bool] = (),
        sent: bool = False,
    ) -> list[int]:
        if not replies:
            return []
        rows = []
        for position, (key, text, buttons) in enumerate(replies):
            encoded = _json({"state": state, "items": buttons}) if buttons else "[]"
            rows.append(
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
                    _ts(now) if sent else None,
                )
            )
        # One statement for all of them: new rowids ascend in the order of the
        # VALUES, so sorted they are the replies' ids in order.
        found = await self.db.execute_fetchall(
            "INSERT INTO outbound_messages (conversation_id, inbound_id, position, "
            "message_key, language, text, buttons, created_at, author, sealed, sent_at) "
            "VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
            + " RETURNING id",
            [value for row in rows for value in row],
        )
        return sorted(int(r[0]) for r in found)

    async def mark_sent(self, outbound_id: int, provider_id: str | None, now: datetime) -> None:
        await self.db.execute(
            "UPDATE outbound_messages SET sent_at = coalesce(sent_at, ?), "
            "provider_id = coalesce(?, provider_id) WHERE id = ?",
            (_ts(now), provider_id, outbound_id),
        )

    async def claim_replies(self, ids: Sequence[int], now: datetime, until: datetime) -> list[int]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = await self._all(
            f"UPDATE outbound_messages SET sending_until = ? WHERE id IN ({marks}) "
            "AND sent_at IS NULL AND (sending_until IS NULL OR sending_until <= ?) RETURNING id",
            (_ts(until), *ids, _ts(now)),
        )
        return sorted(int(r[0]) for r in rows)

    async def unsent_replies(
        self, ids: Sequence[int], now: datetime
    ) -> tuple[list[int], list[int]]:
        if not ids:
            return [], []
        marks = ",".join("?" * len(ids))
        rows = await self._all(
            f"SELECT id, sending_until FROM outbound_messages WHERE id IN ({marks}) "
            "AND sent_at IS NULL ORDER BY id",
            tuple(ids),
        )
        held = [int(r[0]) for r in rows if r[1] is not None and r[1] > _ts(now)]
        return held, [int(r[0]) for r in rows if int(r[0]) not in held]

    async def release_replies(self, ids: Sequence[int]) -> None:
        if ids:
            marks = ",".join("?" * len(ids))
            await self.db.execute(
                f"UPDATE outbound_messages SET sending_until = NULL WHERE id IN ({marks}) "
                "AND sent_at IS NULL",
                tuple(ids),
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

    async def request_transcripts(self, email: str) -> list[CustomerMessage]:
        # casefold(): Python's, registered on the connection (SQLite's lower()
        # folds ASCII only), as ``list_requests(email=...)`` matches the data
        # copy's requests: its transcripts and its requests are of one email.
        rows = await self._all(
            "SELECT c.channel, m.at, m.who, m.text, m.sealed FROM ("
            " SELECT conversation_id, received_at AS at, 'customer' AS who, text, id,"
            " 0 AS sealed FROM inbound_messages UNION ALL"
            " SELECT conversation_id, created_at AS at, CASE WHEN author IS NULL THEN 'bot'"
            " ELSE 'staff' END AS who, text, id, sealed FROM outbound_messages) m"
            " JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.conversation_id IN (SELECT conversation_id FROM requests "
            "WHERE casefold(email) = ?) ORDER BY m.at, m.who DESC, m.id",
            (email.casefold(),),
        )
        return [
            CustomerMessage(
                channel=Channel(r["channel"]),
                at=datetime.fromisoformat(r["at"]),
                who=r["who"],
                text=r["text"],
                sealed=bool(r["sealed"]),
            )
            for r in rows
        ]


def _conversation(row: Row) -> ConversationRecord:
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
