"""A customer's conversation: its state, every message in and out,
delivery reports, opt-outs and upload links.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.models import (
    Channel,
    CodeRecord,
    ConversationRecord,
    CustomerMessage,
    RecordedReply,
    RequestRecord,
)

# What ``record_inbound`` returns: the message's row, to hand back to the
# store (its replies, its files). A backend may not know the number yet (the
# SQLite store sends the INSERT with the message's other writes).
InboundRef = object


@dataclass(frozen=True)
class MessageContext:
    """What handling a message reads before it decides anything."""

    seen: int | None  # the id of a message recorded before with this id
    sender: str | None  # who sent that one
    conversation: ConversationRecord | None  # the sender's (None: new)
    requests: list[RequestRecord]  # filed from the sender's address, newest first
    code: CodeRecord | None  # the conversation's email code


class Conversations(abc.ABC):
    """The conversation part of a ``Transaction`` (``bot.store.base``)."""

    @abc.abstractmethod
    async def find_inbound(self, channel: Channel, external_id: str) -> int | None: ...

    @abc.abstractmethod
    async def inbound_sender(self, inbound_id: int) -> str | None:
        """The channel address a recorded message came from: a message id is
        only a repeat when the same sender sends it again."""

    @abc.abstractmethod
    async def message_context(
        self, channel: Channel, address: str, external_id: str
    ) -> MessageContext:
        """What a message needs first, read together (one trip to the
        database): whether it was handled before and who sent it then, the
        sender's conversation, requests and email code."""

    @abc.abstractmethod
    async def replies_to(self, inbound_id: int) -> list[RecordedReply]:
        """The replies recorded for a message, in order."""

    @abc.abstractmethod
    async def get_conversation(
        self, channel: Channel, address: str
    ) -> ConversationRecord | None: ...

    @abc.abstractmethod
    async def create_conversation(
        self, channel: Channel, address: str, state: str, language: str, now: datetime
    ) -> ConversationRecord: ...

    @abc.abstractmethod
    async def save_conversation(self, conversation: ConversationRecord) -> None: ...

    @abc.abstractmethod
    async def conversations_idle_since(self, cutoff: datetime) -> list[ConversationRecord]:
        """Conversations whose last customer message is older than ``cutoff``
        and that still hold slots (a draft or a pending file)."""

    @abc.abstractmethod
    async def get_conversation_by_id(self, conversation_id: int) -> ConversationRecord | None: ...

    @abc.abstractmethod
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
    ) -> InboundRef: ...

    @abc.abstractmethod
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
        """Record (key, text, buttons) replies; returns their ids in order.
        ``author``: the staff member who wrote them (None: the bot); ``sealed``:
        which texts are kept encrypted; ``sent``: recorded sent already (they
        go in the answer to the provider's webhook, as one transaction with
        the message that brought them)."""

    @abc.abstractmethod
    async def mark_sent(self, outbound_id: int, provider_id: str | None, now: datetime) -> None: ...

    @abc.abstractmethod
    async def claim_replies(self, ids: Sequence[int], now: datetime, until: datetime) -> list[int]:
        """Of these replies, those not sent nor being sent by another instance
        (a claim after ``now``), claimed until ``until`` for this one to send."""

    @abc.abstractmethod
    async def unsent_replies(
        self, ids: Sequence[int], now: datetime
    ) -> tuple[list[int], list[int]]:
        """Of these replies, those not sent yet: (claimed by another instance
        until after ``now``, free to claim)."""

    @abc.abstractmethod
    async def release_replies(self, ids: Sequence[int]) -> None:
        """Give claimed replies back (they could not be sent)."""

    @abc.abstractmethod
    async def record_delivery(
        self,
        provider_id: str,
        status: str,
        error_code: str | None,
        now: datetime,
        outbound_id: int | None = None,
    ) -> None:
        """Keep a provider's delivery report and update the reply it is about."""

    @abc.abstractmethod
    async def set_opt_out(
        self, channel: Channel, address: str, opted_out: bool, source: str, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def is_opted_out(self, channel: Channel, address: str) -> bool: ...

    @abc.abstractmethod
    async def create_upload_token(
        self, token_hash: str, conversation_id: int, now: datetime, expires_at: datetime
    ) -> None:
        """A new link for the conversation; earlier unused links stop working."""

    @abc.abstractmethod
    async def upload_token_conversation(self, token_hash: str, now: datetime) -> int | None:
        """The conversation of a link that is unused and unexpired, else None."""

    @abc.abstractmethod
    async def use_upload_token(self, token_hash: str, now: datetime) -> None: ...

    @abc.abstractmethod
    async def request_transcripts(self, email: str) -> list[CustomerMessage]:
        """Messages of the conversations that filed requests with this email
        (in any case), in order."""
