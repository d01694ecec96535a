"""Chats handed to staff: the queue, who holds which, transcripts, notes,
escalations and the mark the console's live view polls.
"""

from __future__ import annotations

import abc
from datetime import datetime

from bot.domain.models import ConversationRecord, Escalation, StaffReply, TranscriptLine


class Chats(abc.ABC):
    """The staff-chat part of a ``Transaction`` (``bot.store.base``)."""

    @abc.abstractmethod
    async def staff_queue(self, staff: str, everyone: bool = False) -> list[ConversationRecord]:
        """Chats waiting for staff (oldest first) and those ``staff`` holds (or,
        with ``everyone``, that anybody holds)."""

    @abc.abstractmethod
    async def return_chats_of(self, staff: str, now: datetime) -> list[int]:
        """Put the chats ``staff`` holds back in the queue; their ids."""

    @abc.abstractmethod
    async def transcript(self, conversation_id: int) -> list[TranscriptLine]:
        """A chat's messages, staff notes and staff actions, in order; within
        one instant each message comes before its answers."""

    @abc.abstractmethod
    async def add_staff_note(
        self, conversation_id: int, author: str, text: str, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def add_chat_event(
        self, conversation_id: int, actor: str, kind: str, detail: str, now: datetime
    ) -> None:
        """What a staff member did in a chat (claim, transfer, release, route)."""

    @abc.abstractmethod
    async def staff_reply(self, outbound_id: int) -> StaffReply | None:
        """A staff reply; None for any other message (the bot's, a notice)."""

    @abc.abstractmethod
    async def record_escalation(self, conversation_id: int, reason: str, now: datetime) -> None: ...

    @abc.abstractmethod
    async def escalation_reasons(self, conversation_ids: list[int]) -> dict[int, str]:
        """The reason of each chat's latest hand-over."""

    @abc.abstractmethod
    async def unannounced_escalations(self, since: datetime) -> list[Escalation]:
        """Hand-overs since ``since`` not yet announced to the staff group."""

    @abc.abstractmethod
    async def mark_announced(self, escalation_id: int, now: datetime) -> None: ...

    @abc.abstractmethod
    async def activity_mark(self) -> str:
        """Changes whenever a chat gets a message, a note, a hand-over or a new
        holder, a request an event, or a notification is queued, leaves the
        queue or is reported on: the console's live updates compare it."""
