"""Values that cross the boundary between the pure dialogue and the engine.

The dialogue never produces final text: it answers with catalogue keys and
parameters, so the same decision renders in Indonesian or English and on any
channel. Effects describe what the engine must persist; the dialogue itself
never touches storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class RequestType(StrEnum):
    DELETION = "deletion"
    ACCESS = "access"
    CORRECTION = "correction"
    RESTRICTION = "restriction"

    @property
    def prefix(self) -> str:
        return _PREFIXES[self]


class RequestStatus(StrEnum):
    """Where a filed request stands. Staff move it (see ``bot.requests.lifecycle``);
    the dialogue reads it to tell the customer and to decide what they may do."""

    AWAITING_ID_PROOF = "awaiting_id_proof"
    VERIFYING = "verifying"
    NEEDS_INFO = "needs_info"
    # The customer answered staff's "ask": staff look at the answer next.
    INFO_RECEIVED = "info_received"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """Still being worked on: it may be cancelled or rejected, its due date
        counts, and a second request of its type for the same email is refused."""
        return self in OPEN_STATUSES


# The one list of open statuses; every other status is final.
OPEN_STATUSES: tuple[RequestStatus, ...] = (
    RequestStatus.AWAITING_ID_PROOF,
    RequestStatus.VERIFYING,
    RequestStatus.NEEDS_INFO,
    RequestStatus.INFO_RECEIVED,
    RequestStatus.IN_PROGRESS,
)
# Staff asked for more and the customer's messages and files go to the request:
# still waiting (needs_info), or answered and perhaps added to (info_received).
INFO_WANTED: tuple[RequestStatus, ...] = (RequestStatus.NEEDS_INFO, RequestStatus.INFO_RECEIVED)

_PREFIXES = {
    RequestType.DELETION: "DEL",
    RequestType.ACCESS: "ACC",
    RequestType.CORRECTION: "COR",
    RequestType.RESTRICTION: "RES",
}


@dataclass(frozen=True)
class Label:
    """A catalogue key used as a parameter: rendered in the reader's language."""

    key: str


@dataclass(frozen=True)
class Button:
    """A quick answer a channel may show as a button; pressing it sends ``value``."""

    label: Label | str
    value: str


@dataclass(frozen=True)
class Reply:
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    buttons: tuple[Button, ...] = ()
    # Asks for a file (ID proof): where the channel cannot carry one, the
    # reply carries the one-time upload link that ``OfferUpload`` made.
    asks_for_file: bool = False


@dataclass(frozen=True)
class Seq:
    """Parameter made of several rendered parts joined by ``sep``."""

    items: tuple[Any, ...]
    sep: str = "\n"


@dataclass(frozen=True)
class AttachmentInfo:
    """What the engine learned about one inbound file before the dialogue saw it.

    ``problem`` is None for an acceptable file, otherwise one of ``empty``,
    ``too_large`` or ``unsupported_type``. ``token`` names the staged copy the
    engine keeps only if the dialogue asks for it.
    """

    token: str
    size: int
    media_type: str | None
    sha256: str | None
    problem: str | None = None


@dataclass(frozen=True)
class Inbound:
    """``expected_state`` is set when the customer pressed a button: the state
    the button was offered in, so a press on an old message is not misread."""

    text: str
    attachments: tuple[AttachmentInfo, ...] = ()
    oversized: bool = False
    expected_state: str | None = None


@dataclass(frozen=True)
class KnownRequest:
    """A request filed from the same channel address, as the dialogue may reveal it."""

    reference: str
    type: RequestType
    status: str
    due_date: date


@dataclass(frozen=True)
class CodeState:
    """The email code the conversation is waiting for, as the engine knows it.

    ``typed_ok`` is the engine's verdict on this message when it looks like a
    code (None otherwise): the dialogue never sees codes or keys. Nothing here
    tells whether the email is registered, so no reply can reveal it.
    """

    purpose: str
    expires_at: datetime
    attempts_left: int
    resends_left: int
    next_resend_at: datetime
    locked_until: datetime | None
    typed_ok: bool | None = None
    email: str = ""  # the address the pending code was (or was not) sent to


@dataclass(frozen=True)
class Context:
    """Facts the engine supplies so the dialogue can stay free of I/O.

    ``new_reference`` and ``due_date`` are what a request filed by this very
    message would get; the engine retries with a fresh reference if it collides.
    ``verified_request`` is a request filed elsewhere whose status this
    customer has just proved the right to see (by its email code).
    ``open_same_email`` are open requests filed with the email this draft has
    verified, from any address: a second one of the same type is not filed.
    """

    now: datetime
    new_reference_suffix: str
    due_date: date
    requests: tuple[KnownRequest, ...] = ()
    code: CodeState | None = None
    verified_request: KnownRequest | None = None
    due_dates: dict[RequestType, date] = field(default_factory=dict)  # per type; else due_date
    open_same_email: tuple[KnownRequest, ...] = ()
    resume_after_hours: int = 24
    draft_expiry_days: int = 7
    max_failures: int = 3
    max_text_length: int = 4000
    max_attachment_bytes: int = 10 * 1024 * 1024
    code_minutes: int = 10
    code_lock_minutes: int = 15
    # None while staff are at work; else when they next are (support hours).
    staff_opens_at: datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    state: str
    slots: dict[str, Any]
    language: str
    failures: int = 0
    last_activity: datetime | None = None


# Effects ---------------------------------------------------------------------


@dataclass(frozen=True)
class FileRequest:
    reference: str
    type: RequestType
    fields: dict[str, Any]
    id_proof_token: str | None
    due_date: date


@dataclass(frozen=True)
class KeepAttachment:
    """Keep a staged file, linked to the conversation's draft."""

    token: str


@dataclass(frozen=True)
class DiscardAttachments:
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class AttachProof:
    reference: str
    token: str


@dataclass(frozen=True)
class Escalate:
    reason: str


@dataclass(frozen=True)
class SendCode:
    """Email a one-time code to ``email`` for ``purpose`` ("request", or
    "status:<reference>"), if the email qualifies; the reply is the same either way."""

    purpose: str
    email: str
    resend: bool = False


@dataclass(frozen=True)
class CodeAttempt:
    ok: bool


@dataclass(frozen=True)
class ProvideInfo:
    """What the customer sent for a request staff asked more about: words, or a
    file (already kept under ``token``)."""

    reference: str
    text: str
    token: str | None


@dataclass(frozen=True)
class CancelRequest:
    """The customer confirmed cancelling one of their own open requests."""

    reference: str


@dataclass(frozen=True)
class OfferUpload:
    """A reply asks for a file. The dialogue does not know the channel: the
    core makes a one-time upload link where the channel cannot carry a file
    (SMS), and the replies that ask for the file carry it."""


Effect = (
    FileRequest
    | KeepAttachment
    | DiscardAttachments
    | AttachProof
    | Escalate
    | SendCode
    | CodeAttempt
    | CancelRequest
    | ProvideInfo
    | OfferUpload
)


@dataclass
class Outcome:
    state: str
    slots: dict[str, Any]
    language: str
    failures: int
    replies: list[Reply]
    effects: list[Effect]
