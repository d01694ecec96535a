"""What the core needs from a database, independent of which one.

SQLite is the embedded default; a PostgreSQL backend for several server
instances is to implement this same interface. Everything that changes state
happens inside ``Store.transaction()``: all of it commits or none of it does.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any

from bot.domain.models import (
    Channel,
    CodeRecord,
    ConversationRecord,
    Escalation,
    Notification,
    QueuedMail,
    RecordedReply,
    RequestRecord,
)
from flows.types import RequestStatus, RequestType


class StoreError(Exception):
    """The database could not be used (missing, locked too long, damaged)."""


class DuplicateReference(StoreError):
    """A request reference collided with an existing one; retry with another."""


class Transaction(abc.ABC):
    @abc.abstractmethod
    async def find_inbound(self, channel: Channel, external_id: str) -> int | None: ...

    @abc.abstractmethod
    async def inbound_sender(self, inbound_id: int) -> str | None:
        """The channel address a recorded message came from: a message id is
        only a repeat when the same sender sends it again."""

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
    ) -> int: ...

    @abc.abstractmethod
    async def record_outbound(
        self,
        conversation_id: int,
        inbound_id: int | None,
        language: str,
        state: str,
        replies: Sequence[tuple[str, str, tuple[tuple[str, str], ...]]],
        now: datetime,
        author: str | None = None,
        sealed: Sequence[bool] = (),
    ) -> list[int]:
        """Record (key, text, buttons) replies; returns their ids in order.
        ``author``: the staff member who wrote them (None: the bot); ``sealed``:
        which texts are kept encrypted."""

    @abc.abstractmethod
    async def mark_sent(self, outbound_id: int, provider_id: str | None, now: datetime) -> None: ...

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
    async def get_conversation_by_id(self, conversation_id: int) -> ConversationRecord | None: ...

    @abc.abstractmethod
    async def staff_queue(self, staff: str, everyone: bool = False) -> list[ConversationRecord]:
        """Chats waiting for staff (oldest first) and those ``staff`` holds (or,
        with ``everyone``, that anybody holds)."""

    @abc.abstractmethod
    async def return_chats_of(self, staff: str, now: datetime) -> list[int]:
        """Put the chats ``staff`` holds back in the queue; their ids."""

    @abc.abstractmethod
    async def transcript(self, conversation_id: int) -> list[dict[str, Any]]:
        """(at, who, text, problem, sealed) of a chat's messages and staff notes,
        in order; ``problem`` is true for a message not sent or reported
        undelivered, ``sealed`` for a text kept encrypted."""

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
    async def staff_reply(self, outbound_id: int) -> dict[str, Any] | None:
        """A staff reply (conversation_id, author, text, rerouted: whether an
        undelivered report already sent it on); None for any other message."""

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
        holder, or a request an event: the console's live updates compare it."""

    # outbox

    @abc.abstractmethod
    async def enqueue_notification(
        self,
        reference: str,
        kind: str,
        channel: str,
        address: str,
        language: str,
        params: dict[str, Any],
        idempotency_key: str,
        now: datetime,
        created_at: datetime | None = None,
    ) -> bool:
        """Add a notification; False when its idempotency key is already there.
        ``created_at`` (default ``now``) starts its 48-hour clock: a fallback
        keeps the original's."""

    @abc.abstractmethod
    async def due_notifications(self, now: datetime, limit: int) -> list[Notification]: ...

    @abc.abstractmethod
    async def notification_by_provider(self, provider_id: str) -> Notification | None: ...

    @abc.abstractmethod
    async def code_mails_since(self, email_digest: str, since: datetime) -> int: ...

    @abc.abstractmethod
    async def enqueue_mail(
        self, kind: str, sealed: str, idempotency_key: str, now: datetime, expires_at: datetime
    ) -> int | None:
        """Queue a sealed mail in the mail outbox; its id (None: the key is
        queued already)."""

    @abc.abstractmethod
    async def claim_mail(
        self, now: datetime, until: datetime, limit: int, ids: list[int] | None = None
    ) -> list[QueuedMail]:
        """The due mail (of ``ids`` only, if given), leased until ``until`` so
        that no other worker sends it meanwhile."""

    @abc.abstractmethod
    async def lease_mail(self, id: int, held: datetime, until: datetime) -> bool:
        """Renew a claimed mail's lease from ``held`` (the lease this worker
        took) to ``until``, right before sending it: a long batch keeps its
        hold. False when the row went, or its lease ran out and another worker
        took it: that worker sends it, so this one must not send it too."""

    @abc.abstractmethod
    async def mail_done(self, id: int) -> None:
        """Sent or dropped: the row (and its sealed code) goes."""

    @abc.abstractmethod
    async def mail_failed(self, id: int, error: str, next_attempt_at: datetime) -> None: ...

    @abc.abstractmethod
    async def take_code_mail(self, email_digest: str, now: datetime, per_hour: int) -> bool:
        """Count one code mail for ``email_digest`` if fewer than ``per_hour``
        went out in the last hour; whether it may go."""

    @abc.abstractmethod
    async def drop_code_mails(self, before: datetime) -> None: ...

    @abc.abstractmethod
    async def reported_undelivered(self, provider_id: str) -> bool:
        """Whether the provider has reported this message failed or undelivered."""

    @abc.abstractmethod
    async def lease_notification(self, id: int, until: datetime) -> None:
        """Hold a notification back until ``until`` while one worker sends it."""

    @abc.abstractmethod
    async def pending_notifications(self, channel: str, address: str) -> list[Notification]: ...

    @abc.abstractmethod
    async def pending_staff_messages(self, channel: Channel, address: str) -> list[dict[str, Any]]:
        """Messages from staff (replies, joined, back to the bot) not sent yet to
        this customer, oldest first: ``id``, ``text``, ``created_at``. A channel
        without push (the terminal) shows them when the customer comes back."""

    @abc.abstractmethod
    async def notification_sent(self, id: int, provider_id: str | None, now: datetime) -> bool:
        """Record the send; True when it wiped the address of a forgotten
        customer (the caller then scrubs the old copies off the disk)."""

    @abc.abstractmethod
    async def notification_failed(
        self, id: int, error: str, next_attempt_at: datetime | None, now: datetime
    ) -> bool:
        """Record a failed try; ``next_attempt_at`` None means given up. True
        when giving up wiped a forgotten customer's address (then scrub)."""

    @abc.abstractmethod
    async def flag_request(self, reference: str) -> None: ...

    @abc.abstractmethod
    async def drop_compliance_records(self, before: datetime) -> int:
        """Remove forgotten customers' compliance records completed before ``before``."""

    @abc.abstractmethod
    async def deletions_to_forget(self) -> list[str]:
        """References of completed deletion requests whose customer is not yet forgotten."""

    @abc.abstractmethod
    async def forget_customer(self, reference: str, email_digest: str, now: datetime) -> list[str]:
        """After a completed deletion: erase what identifies the customer (all
        their conversations, messages, codes, files, names and addresses),
        keeping reference, type, dates, status history and a keyed hash of the
        email. Returns the tokens of the files to delete after the commit."""

    # staff

    @abc.abstractmethod
    async def create_staff(self, email: str, role: str, password_hash: str, now: datetime) -> bool:
        """False when the email already has an account."""

    @abc.abstractmethod
    async def count_staff(self) -> int: ...

    @abc.abstractmethod
    async def list_staff(self) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def staff_by_email(self, email: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def update_staff(
        self,
        staff_id: int,
        *,
        role: str | None = None,
        disabled_at: datetime | bool | None = False,
        password_hash: str | None = None,
    ) -> None:
        """Change what is given; ``disabled_at`` None enables, False leaves it."""

    @abc.abstractmethod
    async def end_sessions_of(self, staff_id: int) -> None: ...

    @abc.abstractmethod
    async def add_staff_audit(self, actor: str, action: str, subject: str, now: datetime) -> None:
        """What an admin did to a staff account."""

    @abc.abstractmethod
    async def staff_audit(self, limit: int) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def set_staff_login_state(
        self, staff_id: int, failed: int, locked_until: datetime | None
    ) -> None: ...

    @abc.abstractmethod
    async def add_staff_login_failure(self, staff_id: int) -> tuple[int, str | None]:
        """Count one more failed login in place (never read-then-write, or
        parallel guesses overwrite each other's counts); the new count and the
        current ``locked_until``."""

    @abc.abstractmethod
    async def login_failures(self, address: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def add_login_failure(self, address: str, now: datetime) -> tuple[int, str | None]:
        """Like ``add_staff_login_failure``, for a client address."""

    @abc.abstractmethod
    async def set_login_failures(
        self, address: str, failures: int, locked_until: datetime | None, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def create_session(
        self, id_hash: str, staff_id: int, csrf: str, language: str, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def get_session(self, id_hash: str) -> dict[str, Any] | None:
        """The session with its staff member's email and role."""

    @abc.abstractmethod
    async def touch_session(self, id_hash: str, now: datetime, language: str | None) -> None: ...

    @abc.abstractmethod
    async def delete_session(self, id_hash: str) -> None: ...

    # back-office API

    @abc.abstractmethod
    async def create_api_token(self, name: str, token_hash: str, now: datetime) -> None: ...

    @abc.abstractmethod
    async def api_token_name(self, token_hash: str, now: datetime) -> str | None:
        """The name of a valid token (and note its use), None if unknown or revoked."""

    # downloads

    @abc.abstractmethod
    async def create_download(
        self,
        token_hash: str,
        reference: str,
        blob_token: str,
        size: int,
        sha256: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    @abc.abstractmethod
    async def get_download(self, token_hash: str, now: datetime) -> dict[str, Any] | None:
        """The unexpired download with its request's reference, email and language."""

    @abc.abstractmethod
    async def set_download_code(
        self,
        token_hash: str,
        digest: str | None,
        expires: datetime | None,
        attempts: int,
        sent_at: datetime | None,
    ) -> None:
        """The download page's current code (``digest`` None: no usable code)."""

    @abc.abstractmethod
    async def request_transcripts(self, email: str) -> list[dict[str, Any]]:
        """Messages of the conversations that filed requests with this email."""

    # identity

    @abc.abstractmethod
    async def find_account(self, email: str) -> tuple[str, str] | None:
        """(email, full_name) of a locally imported account."""

    @abc.abstractmethod
    async def count_accounts(self) -> int: ...

    @abc.abstractmethod
    async def import_accounts(
        self, rows: Sequence[tuple[str, str, str | None]], now: datetime
    ) -> int:
        """Add or update (email, full_name, phone) rows; returns how many."""

    @abc.abstractmethod
    async def get_code(self, conversation_id: int) -> CodeRecord | None: ...

    @abc.abstractmethod
    async def save_code(self, code: CodeRecord) -> None: ...

    # ID proofs

    @abc.abstractmethod
    async def record_attachment_view(
        self, token: str, viewer: str, purpose: str, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def live_attachment_tokens(self) -> set[str]:
        """Tokens of stored files a record still refers to (ID proofs, data copies)."""

    @abc.abstractmethod
    async def expired_downloads(self, now: datetime) -> list[str]:
        """Remove download links past their date; returns their files' tokens."""

    @abc.abstractmethod
    async def id_proofs_due(self, cutoff: datetime) -> list[tuple[str, str]]:
        """(token, reference) of stored ID proofs whose retention started at or
        before ``cutoff``."""

    @abc.abstractmethod
    async def open_requests_for_email(self, email: str) -> list[RequestRecord]:
        """Open requests filed with this email (any case), from any address."""

    @abc.abstractmethod
    async def requests_for_address(self, channel: Channel, address: str) -> list[RequestRecord]: ...

    @abc.abstractmethod
    async def insert_request(
        self,
        *,
        reference: str,
        type: RequestType,
        status: RequestStatus,
        channel: Channel,
        customer_address: str,
        conversation_id: int,
        language: str,
        full_name: str,
        email: str,
        reason: str | None,
        details: dict[str, Any],
        now: datetime,
        due_date: date,
    ) -> int:
        """Raises DuplicateReference when the reference is taken."""

    @abc.abstractmethod
    async def set_due_date(self, reference: str, due: date, now: datetime) -> None: ...

    @abc.abstractmethod
    async def set_request_status(
        self, reference: str, status: RequestStatus, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def add_request_event(
        self, reference: str, actor: str, kind: str, data: dict[str, Any], now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def insert_attachment(
        self,
        *,
        token: str,
        conversation_id: int,
        inbound_id: int | None,
        media_type: str,
        size: int,
        sha256: str,
        now: datetime,
    ) -> None: ...

    @abc.abstractmethod
    async def link_attachment(self, token: str, reference: str) -> None: ...

    @abc.abstractmethod
    async def mark_attachments_deleted(self, tokens: Sequence[str], now: datetime) -> None: ...

    @abc.abstractmethod
    async def get_request(self, reference: str) -> RequestRecord | None:
        """The request with its events and attachments."""

    @abc.abstractmethod
    async def list_requests(self, status: RequestStatus | None = None) -> list[RequestRecord]: ...


class Store(abc.ABC):
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self, readonly: bool = False) -> AbstractAsyncContextManager[Transaction]:
        """All or nothing. ``readonly`` views take no write lock, so staff
        listings never wait for (or hold up) conversations."""

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    @abc.abstractmethod
    async def scrub_wal(self) -> None:
        """Make sure deleted content is not kept in a log beside the database."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreError unless the database answers."""

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
