"""Chats handed to staff: the queue, who holds which, transcripts, notes,
escalations and the mark the console's live view polls.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from bot.domain.models import ConversationRecord, Escalation, StaffReply, TranscriptLine

INBOX_TABS = ("mine", "waiting", "all")


@dataclass(frozen=True)
class ChatSummary:
    """A chat as the inbox lists it: who the customer is (as far as the chat
    or their requests tell), why it was handed over, its latest message, and
    whether the reader has seen the customer's latest message."""

    chat: ConversationRecord
    name: str | None  # the draft's full name, else their latest request's
    email: str | None
    reason: str | None  # why it was last handed over
    last_who: str  # customer, bot or staff
    last_text: str | None  # None: sealed, or a message with only files
    last_at: datetime | None
    unread: bool


@dataclass(frozen=True)
class ChatFile:
    """A file the customer sent in a chat (the content is in the blob store)."""

    id: int
    token: str
    inbound_id: int | None
    media_type: str
    size: int
    deleted: bool


@dataclass(frozen=True)
class ChatMessage:
    """One line of a chat for its page, with what the database knows of its
    delivery: ``kind`` in, out, note or event; ``who`` as in ``TranscriptLine``.
    For an outbound message ``sent`` (the channel took it), the provider's
    last ``delivery`` word and ``error`` code, and the route a failed one
    went on by (``rerouted``, ``nothing`` when none could carry it)."""

    id: int
    kind: str
    at: datetime
    who: str
    text: str
    sealed: bool = False
    sent: bool = False
    delivery: str | None = None
    error: str | None = None
    rerouted: str | None = None
    refused: bool = False  # no route could take it when it was written
    files: tuple[ChatFile, ...] = ()


@dataclass(frozen=True)
class ReadyAnswer:
    """An answer staff can put in the composer, in both languages."""

    id: int
    key: str | None  # the configured answer it was copied from
    text_id: str
    text_en: str
    updated_at: datetime
    updated_by: str

    def text(self, language: str) -> str:
        return self.text_en if language == "en" else self.text_id


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
    async def claim_escalations(
        self, since: datetime, now: datetime, until: datetime, limit: int
    ) -> list[Escalation]:
        """Hand-overs since ``since`` not yet announced nor being announced
        (claimed by another instance until after ``now``), claimed for this
        one until ``until``: each instance's announcer posts only its own."""

    @abc.abstractmethod
    async def release_escalations(self, escalation_ids: list[int]) -> None:
        """Give claimed hand-overs back (not posted: due again at once)."""

    @abc.abstractmethod
    async def mark_announced(self, escalation_id: int, now: datetime) -> None: ...

    # -- the inbox ---------------------------------------------------------
    @abc.abstractmethod
    async def chat_list(
        self, staff: str, tab: str, query: str = "", limit: int = 25, offset: int = 0
    ) -> tuple[list[ChatSummary], int]:
        """A page of the inbox's ``tab`` (``INBOX_TABS``) for ``staff``, and how
        many chats the tab holds. ``mine``: the chats ``staff`` holds; ``waiting``:
        handed over and held by nobody, oldest first; ``all``: every chat ever
        handed to staff, released and ended ones too, those waiting first, then
        those held, then by latest activity. ``query`` narrows any tab to chats
        whose customer name, number, email or request reference contains it."""

    @abc.abstractmethod
    async def chat_counts(self, staff: str) -> tuple[int, int]:
        """(chats ``staff`` holds where the customer has the last word, chats
        waiting for anyone to take them): the console's tab title."""

    @abc.abstractmethod
    async def earlier_chats(self, conversation: ConversationRecord) -> list[ChatSummary]:
        """Other conversations of the same customer: the same address on
        another channel, or the same email in a request."""

    @abc.abstractmethod
    async def chat_messages(self, conversation_id: int) -> list[ChatMessage]:
        """A chat's page: ``transcript``'s lines with each message's files and
        delivery, in the same order."""

    @abc.abstractmethod
    async def chat_file(self, conversation_id: int, file_id: int) -> ChatFile | None:
        """A file the customer sent in this chat; None for another chat's."""

    @abc.abstractmethod
    async def note_not_sent(self, conversation_id: int, staff: str, now: datetime) -> None:
        """The latest message ``staff`` wrote in the chat could not be sent
        (a ``not_sent`` chat event naming it)."""

    @abc.abstractmethod
    async def chat_files_due(self, cutoff: datetime) -> list[str]:
        """Files customers sent in a chat before ``cutoff`` that belong to no
        request and no draft: the tokens of those still stored."""

    @abc.abstractmethod
    async def mark_chat_read(self, staff: str, conversation_id: int, now: datetime) -> None:
        """``staff`` has seen every customer message of the chat so far."""

    # -- ready answers -------------------------------------------------------
    @abc.abstractmethod
    async def ready_answers(self) -> list[ReadyAnswer]:
        """Every ready answer, in the order they were added."""

    @abc.abstractmethod
    async def ready_answers_seeded(self) -> bool:
        """Whether the configured answers were copied in already."""

    @abc.abstractmethod
    async def seed_ready_answers(self, answers: dict[str, tuple[str, str]], now: datetime) -> None:
        """Copy in the configured answers (key -> (Indonesian, English)), once."""

    @abc.abstractmethod
    async def save_ready_answer(
        self, answer_id: int | None, text_id: str, text_en: str, staff: str, now: datetime
    ) -> bool:
        """Add (``answer_id`` None) or change one; False when it does not exist."""

    @abc.abstractmethod
    async def delete_ready_answer(self, answer_id: int) -> bool: ...

    @abc.abstractmethod
    async def activity_mark(self) -> str:
        """Changes whenever a chat gets a message, a note, a hand-over or a new
        holder, a request an event, or a notification is queued, leaves the
        queue or is reported on: the console's live updates compare it."""
