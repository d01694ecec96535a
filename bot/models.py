"""The core's records: conversations, requests, messages in and out.

Integrations speak ``InboundMessage`` and ``OutboundMessage`` only; the rest
is what the store persists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flows.types import RequestType


class Channel(StrEnum):
    TERMINAL = "terminal"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    TELEGRAM = "telegram"


class RequestStatus(StrEnum):
    AWAITING_ID_PROOF = "awaiting_id_proof"
    VERIFYING = "verifying"
    NEEDS_INFO = "needs_info"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self not in (self.COMPLETED, self.REJECTED, self.CANCELLED)


@dataclass(frozen=True)
class InboundFile:
    """A file as a channel delivered it. ``data`` is at most the size limit
    plus one byte: channels stop reading there, so ``size`` tells the truth."""

    data: bytes
    size: int
    filename: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    channel: Channel
    address: str
    message_id: str
    text: str = ""
    files: tuple[InboundFile, ...] = ()


@dataclass(frozen=True)
class OutboundMessage:
    channel: Channel
    address: str
    key: str
    text: str
    language: str


@dataclass
class ConversationRecord:
    id: int
    channel: Channel
    address: str
    state: str
    slots: dict[str, Any]
    language: str
    failures: int
    waiting_staff_since: datetime | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime | None


@dataclass(frozen=True)
class RequestRecord:
    id: int
    reference: str
    type: RequestType
    status: RequestStatus
    channel: Channel
    customer_address: str
    conversation_id: int
    language: str
    full_name: str
    email: str
    reason: str | None
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    due_date: date
    events: tuple[RequestEvent, ...] = field(default=())
    attachments: tuple[AttachmentRecord, ...] = field(default=())


@dataclass(frozen=True)
class RequestEvent:
    at: datetime
    actor: str
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class AttachmentRecord:
    token: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime
    deleted_at: datetime | None
