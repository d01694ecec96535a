"""The core's records: conversations, requests, messages in and out.

Integrations speak ``InboundMessage`` and ``OutboundMessage`` only; the rest
is what the store persists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from flows.types import RequestStatus, RequestType

# Forgetting a customer (``Transaction.forget_customer``, after a completed
# deletion) replaces the email on their requests with this prefix and a keyed
# hash of the address: the compliance record stays, the address does not.
FORGOTTEN_EMAIL_PREFIX = "hmac:"


class Channel(StrEnum):
    TERMINAL = "terminal"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    TELEGRAM = "telegram"

    @property
    def carries_files(self) -> bool:
        """Whether a customer can send a photo or PDF here (a text message cannot)."""
        return self is not Channel.SMS


@dataclass(frozen=True)
class InboundFile:
    """A file as a channel delivered it. ``data`` is at most the size limit
    plus one byte: channels stop reading there, so ``size`` tells the truth."""

    data: bytes
    size: int
    filename: str | None = None
    fetched: bool = True  # False: the channel could not download it


class Control(StrEnum):
    """Messages about messaging itself rather than a request."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


@dataclass(frozen=True)
class InboundMessage:
    """One message from a customer, as every channel hands it to the engine.

    ``language_hint`` (e.g. Telegram's language code) only picks the language
    of a new conversation. ``expected_state`` comes with a button press.
    ``control`` marks an opt-out or opt-in; ``quiet`` means the provider has
    already answered it, so the engine records it without replying.
    """

    channel: Channel
    address: str
    message_id: str
    text: str = ""
    files: tuple[InboundFile, ...] = ()
    language_hint: str | None = None
    expected_state: str | None = None
    control: Control | None = None
    quiet: bool = False


@dataclass(frozen=True)
class OutboundMessage:
    """A reply ready for a channel. ``buttons`` are (label, value) pairs offered
    in ``state``; ``sent`` tells a repeated delivery which replies already went
    out, so channels that send them themselves do not send them twice."""

    channel: Channel
    address: str
    key: str
    text: str
    language: str
    id: int | None = None
    buttons: tuple[tuple[str, str], ...] = ()
    state: str = ""
    sent: bool = False


@dataclass(frozen=True)
class RecordedReply:
    id: int
    key: str
    text: str
    language: str
    buttons: tuple[tuple[str, str], ...]
    state: str
    sent: bool
    sealed: bool = False  # the text is kept encrypted (it carries a one-time link)


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
    claimed_by: str | None = None  # the staff member who took the chat over


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

    @property
    def forgotten(self) -> bool:
        """The customer was forgotten: ``email`` is only a keyed hash now, so
        there is nobody to write to and nothing of theirs to show."""
        return self.email.startswith(FORGOTTEN_EMAIL_PREFIX)


@dataclass(frozen=True)
class RequestEvent:
    at: datetime
    actor: str
    kind: str
    data: dict[str, Any]


@dataclass
class Notification:
    """One message to a customer in the outbox (see the notifications table)."""

    id: int
    reference: str
    kind: str
    channel: str
    address: str
    language: str
    params: dict[str, Any]
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class QueuedMail:
    """One mail in the mail outbox (see the mail_outbox table); ``sealed``
    opens only with the keyring."""

    id: int
    kind: str
    sealed: str
    idempotency_key: str
    attempts: int
    expires_at: datetime


@dataclass
class CodeRecord:
    """The email code a conversation waits for (see the email_codes table)."""

    conversation_id: int
    purpose: str
    email: str
    digest: str | None
    directory_name: str | None
    issued_at: datetime
    expires_at: datetime
    attempts: int
    sends: int
    last_sent_at: datetime
    locked_until: datetime | None
    verified_at: datetime | None


@dataclass(frozen=True)
class Escalation:
    """A chat handed to staff: why, and where the customer is."""

    id: int
    conversation_id: int
    reason: str  # customer_request, failed_answers, unplaced
    created_at: datetime
    channel: Channel
    language: str
    waiting: bool  # still waiting for staff, and nobody has taken it


@dataclass(frozen=True)
class AttachmentRecord:
    token: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime
    deleted_at: datetime | None
    views: tuple[ProofView, ...] = ()


class ProofView(NamedTuple):
    """One look at an ID proof: who, through what (``console``, ``cli``),
    when, and why (a reason code from the console's list, or the words typed;
    '' for views recorded before reasons were asked)."""

    viewer: str
    purpose: str
    at: datetime
    reason: str = ""


@dataclass(frozen=True)
class NotificationState:
    """A notification of one request as staff see it: ``status`` as stored
    (pending, sent, given_up), ``delivery`` the provider's latest report
    (delivered, read, failed, undelivered...; None without one), ``key`` its
    idempotency key (a retry's and a fallback's derive from the original's)."""

    id: int
    kind: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivery: str | None
    key: str


@dataclass(frozen=True)
class TranscriptLine:
    """One line of a chat as staff read it in the console: a customer's
    message, a reply, a staff note or what a staff member did, in order."""

    at: datetime
    # customer, bot, staff (a notice), staff:<email>, note:<email>, event:<email>
    who: str
    text: str
    problem: bool = False  # a reply not sent yet, or reported undelivered
    sealed: bool = False  # the text is kept encrypted (it carried a one-time link)


@dataclass(frozen=True)
class CustomerMessage:
    """One message of a customer's own conversations, for their data copy:
    ``who`` is customer, bot or staff (never which staff member)."""

    channel: Channel
    at: datetime
    who: str
    text: str
    sealed: bool = False  # the text is kept encrypted (it carried a one-time link)


@dataclass(frozen=True)
class StaffReply:
    """A reply a staff member wrote in a chat, as a report that it was not
    delivered finds it."""

    conversation_id: int
    author: str
    text: str
    rerouted: bool  # an earlier report already sent it on by another route


@dataclass(frozen=True)
class PendingStaffMessage:
    """What staff wrote that a channel without push (the terminal) has not
    shown yet: it shows it when the customer comes back."""

    id: int
    text: str
    created_at: datetime


@dataclass(frozen=True)
class DownloadRecord:
    """A data copy's download link (see the downloads table) with what its
    page needs of the request: the reference, and the email and language
    its one-time code goes to and in."""

    token_hash: str
    reference: str
    email: str
    language: str
    blob_token: str
    size: int
    sha256: str
    created_at: datetime
    expires_at: datetime
    code_digest: str | None  # None: no usable code
    code_expires: datetime | None
    code_attempts: int
    code_sent_at: datetime | None
