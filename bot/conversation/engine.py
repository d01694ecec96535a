"""The conversation engine: one inbound message in, one transaction, replies out.

Inside a single database transaction the engine records the message, loads
the conversation, runs the pure dialogue, applies its effects (files kept,
requests filed), saves the new state and records the rendered replies. If
anything fails, none of it is kept, and files written for it are removed.
A message id seen before is answered with the replies recorded the first
time and not processed again, but only to the sender who sent it: the same
id from another sender is refused (``ForeignRepeat``), never answered with
someone else's replies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.delivery.mail_outbox import queue_mail, send_due_mail
from bot.delivery.notifications import notify
from bot.domain.business_days import due_date, due_for
from bot.domain.models import (
    Channel,
    CodeRecord,
    Control,
    ConversationRecord,
    InboundFile,
    InboundMessage,
    OutboundMessage,
    RequestRecord,
)
from bot.domain.support_hours import SupportHours
from bot.infra.blobs import BlobStore
from bot.infra.catalogue import LANGUAGES, Catalogue
from bot.infra.cpu import off_loop
from bot.infra.crypto import Keyring
from bot.infra.directory import AccountDirectory, DirectoryUnavailable, same_name
from bot.infra.images import ImageUnreadable, strip_metadata
from bot.infra.mail import Mail, Mailer, html_page
from bot.requests.lifecycle import apply_move
from bot.settings import Settings
from bot.store import DuplicateReference, Store, Transaction
from flows.dialogue import Dialogue, asks_code, draft_files, expire_draft, holds_draft
from flows.types import (
    AttachmentInfo,
    AttachProof,
    CancelRequest,
    CodeAttempt,
    CodeState,
    Context,
    DiscardAttachments,
    Escalate,
    FileRequest,
    Inbound,
    KeepAttachment,
    KnownRequest,
    Outcome,
    ProvideInfo,
    Reply,
    RequestStatus,
    RequestType,
    SendCode,
    Snapshot,
)
from flows.validators import CROCKFORD_ALPHABET, mask_digits, sniff_media_type

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_SURROGATES = re.compile("[\ud800-\udfff]")
REFERENCE_ATTEMPTS = 8


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_reference_suffix() -> str:
    return "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(6))


# Replies that ask for ID proof: on SMS they carry a one-time upload link.
UPLOAD_LINK_KEYS = ("prompt.id_proof", "hint.id_proof", "filed.proof_later")


class UploadLinkInvalid(Exception):
    """The upload link is unknown, used or expired."""


class ForeignRepeat(Exception):
    """A message id already recorded for another sender of the channel: a
    forgery or a provider's mistake. Refused (HTTP 400; Telegram: dropped)."""


@dataclass(frozen=True)
class UploadResult:
    accepted: bool
    replies: list[OutboundMessage]
    language: str


def hash_token(token: str) -> str:
    """Upload links are stored hashed: a copy of the database opens no upload."""
    return hashlib.sha256(token.encode()).hexdigest()


def _known(record: RequestRecord) -> KnownRequest:
    """A request as the dialogue may know it."""
    return KnownRequest(record.reference, record.type, record.status.value, record.due_date)


def _kept_text(state: str, text: str) -> str:
    """An inbound text as recorded: answered at a code step, its digits masked."""
    return mask_digits(text) if asks_code(state) else text


def _ts(value: datetime) -> str:
    """A time as a queued code mail records it (UTC, ISO 8601)."""
    return value.astimezone(UTC).isoformat()


def _code_context(conversation_id: int, effect: SendCode) -> str:
    """What a code is bound to: this conversation, this purpose, this email."""
    return f"{conversation_id}:{effect.purpose}:{effect.email.casefold()}"


@dataclass
class _File:
    info: AttachmentInfo
    data: bytes


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class _Work:
    """What one message's transaction did, for what must happen after it."""

    message: InboundMessage
    files: dict[str, _File]
    now: datetime = _EPOCH
    conversation: ConversationRecord | None = None
    outcome: Outcome | None = None
    inbound_id: int | None = None
    written: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)  # code mails queued in the outbox


class Engine:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        settings: Settings,
        catalogue: Catalogue,
        dialogue: Dialogue,
        keyring: Keyring,
        directory: AccountDirectory,
        mailer: Mailer,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.catalogue = catalogue
        self.dialogue = dialogue
        self.keyring = keyring
        self.directory = directory
        self.mailer = mailer
        self.clock = clock
        self.support_hours = SupportHours.parse(settings.support_hours, settings.timezone)
        self._mail_tasks: set[asyncio.Task[None]] = set()

    async def handle(self, message: InboundMessage) -> list[OutboundMessage]:
        """Process one inbound message; the replies to send back."""
        # Decoding images to strip their metadata is CPU work: keep it off the loop.
        # A text alone takes no slot, so a flood of logins or exports cannot hold it up.
        if message.files:
            message, inbound, files = await off_loop(self._prepare, message)
        else:
            message, inbound, files = self._prepare(message)
        for _ in range(REFERENCE_ATTEMPTS):
            try:
                # Shielded: a caller cancelled mid-way (a shutdown) must not cut
                # the transaction between its commit and its file clean-up.
                return await asyncio.shield(
                    self._in_transaction(message, inbound, files, upload=None)
                )
            except DuplicateReference:
                log.warning("request reference collided; retrying with a new one")
        raise RuntimeError("could not allocate a unique request reference")

    async def handle_upload(self, token: str, file: InboundFile) -> UploadResult:
        """A file sent through a one-time upload link (for phones on SMS).

        The link is used up only when the file is accepted; a refused file can
        be replaced from the same page.
        """
        token_hash = hash_token(token)
        async with self.store.transaction(readonly=True) as tx:
            conversation_id = await tx.upload_token_conversation(token_hash, self.clock())
            conversation = (
                await tx.get_conversation_by_id(conversation_id) if conversation_id else None
            )
        if conversation is None:
            raise UploadLinkInvalid()
        message = InboundMessage(
            channel=conversation.channel,
            address=conversation.address,
            message_id=f"upload:{token_hash[:16]}:{uuid.uuid4().hex}",
            files=(file,),
        )
        message, inbound, files = await off_loop(self._prepare, message)
        replies = await asyncio.shield(
            self._in_transaction(message, inbound, files, upload=token_hash)
        )
        accepted = any(r.key in ("proof.received", "proof.attached_to") for r in replies)
        return UploadResult(accepted=accepted, replies=replies, language=conversation.language)

    async def upload_page_language(self, token: str) -> str | None:
        """The language of a valid upload link's conversation, None if invalid."""
        async with self.store.transaction(readonly=True) as tx:
            conversation_id = await tx.upload_token_conversation(hash_token(token), self.clock())
            conversation = (
                await tx.get_conversation_by_id(conversation_id) if conversation_id else None
            )
        return conversation.language if conversation else None

    async def mark_sent(self, reply: OutboundMessage, provider_id: str | None = None) -> None:
        if reply.id is None:
            return
        async with self.store.transaction() as tx:
            await tx.mark_sent(reply.id, provider_id, self.clock())

    async def record_delivery(
        self,
        provider_id: str,
        status: str,
        error_code: str | None = None,
        outbound_id: int | None = None,
    ) -> None:
        async with self.store.transaction() as tx:
            await tx.record_delivery(provider_id, status, error_code, self.clock(), outbound_id)

    async def expects_file(self, channel: Channel, address: str) -> bool:
        """Whether a file from this customer would be used now (else it need
        not be downloaded at all)."""
        async with self.store.transaction(readonly=True) as tx:
            conversation = await tx.get_conversation(channel, address)
            if conversation is None:
                return False
            known = await tx.requests_for_address(channel, address)
        return self.dialogue.expects_file(
            conversation.state,
            tuple(_known(r) for r in known),
        )

    async def recorded_replies(
        self, channel: Channel, address: str, message_id: str
    ) -> list[OutboundMessage] | None:
        """The replies to a message already handled, or None if it is new."""
        async with self.store.transaction(readonly=True) as tx:
            return await self._recorded(tx, channel, address, message_id)

    async def _recorded(
        self, tx: Transaction, channel: Channel, address: str, message_id: str
    ) -> list[OutboundMessage] | None:
        seen = await tx.find_inbound(channel, message_id)
        if seen is None:
            return None
        if await tx.inbound_sender(seen) != address:
            # Neither address is logged: both are customers' phone numbers or chats.
            log.warning("refused a message id already used by another sender on %s", channel.value)
            raise ForeignRepeat(channel.value)
        return [
            OutboundMessage(
                channel,
                address,
                r.key,
                self.keyring.open_text(r.text) if r.sealed else r.text,
                r.language,
                r.id,
                r.buttons,
                r.state,
                r.sent,
            )
            for r in await tx.replies_to(seen)
        ]

    async def is_opted_out(self, channel: Channel, address: str) -> bool:
        async with self.store.transaction(readonly=True) as tx:
            return await tx.is_opted_out(channel, address)

    async def set_language(self, channel: Channel, address: str, language: str) -> None:
        async with self.store.transaction() as tx:
            probe = InboundMessage(channel, address, "", language_hint=language)
            conversation = await self._conversation(tx, probe, self.clock())
            conversation.language = language
            await tx.save_conversation(conversation)

    async def discard_stale_drafts(self) -> int:
        """Remove drafts (and their files) nobody came back to within the expiry
        period, so an abandoned ID proof does not wait for a message that never
        comes. Returns how many were removed."""
        now = self.clock()
        cutoff = now - timedelta(days=self.settings.draft_expiry_days)
        discarded: list[str] = []
        removed = 0
        async with self.store.transaction() as tx:
            for conversation in await tx.conversations_idle_since(cutoff):
                if not holds_draft(conversation.state):
                    continue  # e.g. waiting for staff: staff decide
                tokens = draft_files(conversation.slots)
                await tx.mark_attachments_deleted(tokens, now)
                discarded.extend(tokens)
                conversation.state, conversation.slots = expire_draft()  # told on the next message
                conversation.failures = 0
                conversation.updated_at = now
                await tx.save_conversation(conversation)
                removed += 1
        for token in discarded:
            self.blobs.delete(token)
        if removed:
            log.info("discarded %d abandoned drafts", removed)
        return removed

    # internals ----------------------------------------------------------

    def _inspect(self, file: InboundFile) -> _File:
        token = self.blobs.new_token()
        if not file.fetched:
            return _File(AttachmentInfo(token, file.size, None, None, "download_failed"), b"")
        if file.size == 0:
            return _File(AttachmentInfo(token, 0, None, None, "empty"), b"")
        if file.size > self.settings.max_attachment_bytes:
            return _File(AttachmentInfo(token, file.size, None, None, "too_large"), b"")
        media_type = sniff_media_type(file.data[:2048])
        if media_type is None:
            return _File(AttachmentInfo(token, file.size, None, None, "unsupported_type"), b"")
        try:
            # What is kept (and hashed) is the image without its metadata:
            # GPS position, device and times never reach storage.
            data = strip_metadata(file.data, media_type)
        except ImageUnreadable:
            return _File(AttachmentInfo(token, file.size, media_type, None, "unreadable"), b"")
        digest = hashlib.sha256(data).hexdigest()
        return _File(AttachmentInfo(token, len(data), media_type, digest), data)

    async def _conversation(
        self, tx: Transaction, message: InboundMessage, now: datetime
    ) -> ConversationRecord:
        found = await tx.get_conversation(message.channel, message.address)
        if found is not None:
            return found
        hint = (message.language_hint or "").lower()[:2]
        language = hint if hint in LANGUAGES else self.settings.default_language
        return await tx.create_conversation(
            message.channel, message.address, self.dialogue.initial_state, language, now
        )

    def _prepare(self, message: InboundMessage) -> tuple[InboundMessage, Inbound, list[_File]]:
        # Lone surrogates (undecodable bytes a channel let through) cannot be
        # stored as UTF-8: make them visible replacement characters instead.
        text = _SURROGATES.sub("\ufffd", message.text)
        if text != message.text:
            message = dataclasses.replace(message, text=text)
        files = [self._inspect(f) for f in message.files]
        limit = self.settings.max_text_length
        inbound = Inbound(
            text=message.text if len(message.text) <= limit else "",
            attachments=tuple(f.info for f in files),
            oversized=len(message.text) > limit,
            expected_state=message.expected_state,
        )
        return message, inbound, files

    async def _in_transaction(
        self,
        message: InboundMessage,
        inbound: Inbound,
        files: list[_File],
        upload: str | None,
    ) -> list[OutboundMessage]:
        """All of one message's work in one transaction. Files written for it
        are removed again if the transaction does not commit; mail (codes) is
        queued in it and goes out only after it committed."""
        work = _Work(message=message, files={f.info.token: f for f in files})
        try:
            async with self.store.transaction() as tx:
                recorded = await self._recorded(
                    tx, message.channel, message.address, message.message_id
                )
                if recorded is not None:
                    return recorded
                now = work.now = self.clock()
                if upload is not None and not await tx.upload_token_conversation(upload, now):
                    raise UploadLinkInvalid()  # used or expired since we looked
                conversation = work.conversation = await self._conversation(tx, message, now)
                if message.control is not None:
                    outcome = await self._control(tx, conversation, message, now)
                elif conversation.claimed_by:
                    # A person has this chat: the bot keeps quiet and only records.
                    outcome = Outcome(
                        conversation.state,
                        conversation.slots,
                        conversation.language,
                        conversation.failures,
                        [],
                        [],
                    )
                else:
                    outcome = await self._dialogue(tx, conversation, inbound, now)
                work.outcome = outcome
                work.inbound_id = await tx.record_inbound(
                    conversation.id,
                    message.channel,
                    message.message_id,
                    # A code typed at a code step is checked above, never kept.
                    _kept_text(conversation.state, message.text[: self.settings.max_text_length]),
                    truncated=inbound.oversized,
                    attachment_count=len(files),
                    state_before=conversation.state,
                    state_after=outcome.state,
                    now=now,
                )
                await self._apply(tx, work)
                if upload is not None and work.written:
                    await tx.use_upload_token(upload, now)
                log.info(
                    "message handled: conversation=%s %s -> %s replies=%d effects=%s",
                    conversation.id,
                    conversation.state,
                    outcome.state,
                    len(outcome.replies),
                    ",".join(type(e).__name__ for e in outcome.effects) or "-",
                )
                self._update(conversation, outcome, now)
                await tx.save_conversation(conversation)
                rendered = [
                    await self._render(tx, conversation, outcome.language, r, now)
                    for r in outcome.replies
                ]
                # A reply carrying an upload link (whoever holds it can add an ID
                # proof) is kept sealed, not in clear.
                sealed = [self._holds_link(conversation, key) for key, _, _ in rendered]
                ids = await tx.record_outbound(
                    conversation.id,
                    work.inbound_id,
                    outcome.language,
                    outcome.state,
                    [
                        (key, self.keyring.seal_text(text) if seal else text, buttons)
                        for (key, text, buttons), seal in zip(rendered, sealed, strict=True)
                    ],
                    now,
                    sealed=sealed,
                )
        except BaseException:
            for token in work.written:
                self.blobs.delete(token)
            raise
        for token in work.discarded:
            self.blobs.delete(token)
        if work.codes:
            # Not awaited, whatever the mailer: a registered email must not answer
            # slower than an unknown one (and neither the account directory nor a
            # mail server may hold up a webhook). Queued: if this process dies
            # first, the outbox worker sends them.
            task = asyncio.create_task(self._send_queued(work.codes))
            self._mail_tasks.add(task)
            task.add_done_callback(self._mail_tasks.discard)
        return [
            OutboundMessage(
                message.channel,
                message.address,
                key,
                text,
                outcome.language,
                id_,
                buttons,
                outcome.state,
            )
            for id_, (key, text, buttons) in zip(ids, rendered, strict=True)
        ]

    async def _dialogue(
        self, tx: Transaction, conversation: ConversationRecord, inbound: Inbound, now: datetime
    ) -> Outcome:
        known = await tx.requests_for_address(conversation.channel, conversation.address)
        code_state, verified = await self._code_state(tx, conversation, inbound, now)
        settings = self.settings
        email = conversation.slots.get("email")
        same_email = await tx.open_requests_for_email(email) if email else []
        context = Context(
            now=now,
            new_reference_suffix=new_reference_suffix(),
            due_date=due_date(now, settings.completion_business_days, settings.timezone),
            due_dates={
                t: due_for(
                    t.value,
                    now,
                    settings.sla_profile,
                    settings.completion_business_days,
                    settings.timezone,
                )
                for t in RequestType
            },
            requests=tuple(_known(r) for r in known),
            open_same_email=tuple(_known(r) for r in same_email),
            code=code_state,
            verified_request=verified,
            code_minutes=self.settings.email_code_minutes,
            code_lock_minutes=self.settings.email_code_lock_minutes,
            resume_after_hours=self.settings.draft_resume_hours,
            draft_expiry_days=self.settings.draft_expiry_days,
            max_failures=self.settings.max_failures,
            max_text_length=self.settings.max_text_length,
            max_attachment_bytes=self.settings.max_attachment_bytes,
            staff_opens_at=self.support_hours.next_opening(now),
        )
        snapshot = Snapshot(
            state=conversation.state,
            slots=conversation.slots,
            language=conversation.language,
            failures=conversation.failures,
            last_activity=conversation.last_activity_at,
        )
        return self.dialogue.step(snapshot, inbound, context)

    async def _code_state(
        self, tx: Transaction, conversation: ConversationRecord, inbound: Inbound, now: datetime
    ) -> tuple[CodeState | None, KnownRequest | None]:
        """The pending code as the dialogue may know it, with the verdict on this
        message if it is a code (compared in constant time, never shown)."""
        record = await tx.get_code(conversation.id)
        if record is None:
            return None, None
        settings = self.settings
        typed = "".join(inbound.text.split())
        typed_ok: bool | None = None
        if len(typed) == 6 and typed.isdigit():
            effect = SendCode(record.purpose, record.email)
            typed_ok = record.digest is not None and self.keyring.code_matches(
                typed, _code_context(conversation.id, effect), record.digest
            )
        state = CodeState(
            purpose=record.purpose,
            expires_at=record.expires_at,
            attempts_left=max(0, settings.email_code_attempts - record.attempts),
            resends_left=max(0, settings.email_code_resends - (record.sends - 1)),
            next_resend_at=record.last_sent_at
            + timedelta(seconds=settings.email_code_resend_seconds),
            locked_until=record.locked_until,
            typed_ok=typed_ok,
            email=record.email,
        )
        verified = None
        if typed_ok and record.purpose.startswith("status:") and now < record.expires_at:
            request = await tx.get_request(record.purpose.removeprefix("status:"))
            if request is not None:
                verified = KnownRequest(
                    request.reference, request.type, request.status.value, request.due_date
                )
        return state, verified

    async def _control(
        self,
        tx: Transaction,
        conversation: ConversationRecord,
        message: InboundMessage,
        now: datetime,
    ) -> Outcome:
        """Opt-out and opt-in: about messaging itself, so the dialogue stays where it is."""
        opted_out = message.control is Control.OPT_OUT
        await tx.set_opt_out(
            message.channel,
            message.address,
            opted_out,
            "provider" if message.quiet else "customer",
            now,
        )
        log.info("conversation %s opted %s", conversation.id, "out" if opted_out else "in")
        replies = (
            []
            if message.quiet
            else [Reply("consent.opted_out" if opted_out else "consent.opted_in")]
        )
        return Outcome(
            state=conversation.state,
            slots=conversation.slots,
            language=conversation.language,
            failures=conversation.failures,
            replies=replies,
            effects=[],
        )

    async def _render(
        self,
        tx: Transaction,
        conversation: ConversationRecord,
        language: str,
        reply: Reply,
        now: datetime,
    ) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """(key, text, buttons) of a reply as its channel shows it."""
        variant = "sms" if conversation.channel is Channel.SMS else None
        if self._holds_link(conversation, reply.key):
            # SMS cannot carry a photo: ask for it through a one-time link.
            reply = dataclasses.replace(
                reply,
                params={
                    **reply.params,
                    "upload_url": await self._upload_link(tx, conversation, now),
                    "hours": self.settings.upload_link_hours,
                },
            )
        text = self.catalogue.render(language, reply, variant)
        buttons = tuple((self.catalogue.label(language, b.label), b.value) for b in reply.buttons)
        return reply.key, text, buttons

    @staticmethod
    def _holds_link(conversation: ConversationRecord, key: str) -> bool:
        """Whether this reply carries a one-time upload link (SMS only)."""
        return conversation.channel is Channel.SMS and key in UPLOAD_LINK_KEYS

    async def _upload_link(
        self, tx: Transaction, conversation: ConversationRecord, now: datetime
    ) -> str:
        token = secrets.token_urlsafe(24)  # 192 bits
        expires = now + timedelta(hours=self.settings.upload_link_hours)
        await tx.create_upload_token(hash_token(token), conversation.id, now, expires)
        return f"{self.settings.public_url.rstrip('/')}/upload/{token}"

    async def _apply(self, tx: Transaction, work: _Work) -> None:
        assert work.outcome is not None and work.conversation is not None
        for effect in work.outcome.effects:
            if isinstance(effect, KeepAttachment):
                await self._keep(tx, work, effect.token)
            elif isinstance(effect, DiscardAttachments):
                await tx.mark_attachments_deleted(effect.tokens, work.now)
                work.discarded.extend(effect.tokens)
            elif isinstance(effect, AttachProof):
                if effect.token in work.files:
                    await self._keep(tx, work, effect.token)
                await tx.link_attachment(effect.token, effect.reference)
                await tx.set_request_status(effect.reference, RequestStatus.VERIFYING, work.now)
                await tx.add_request_event(
                    effect.reference, "customer", "id_proof_received", {}, work.now
                )
            elif isinstance(effect, FileRequest):
                await self._file(tx, work, effect)
            elif isinstance(effect, SendCode):
                await self._send_code(tx, work, effect)
            elif isinstance(effect, CodeAttempt):
                await self._code_attempt(tx, work, effect)
            elif isinstance(effect, ProvideInfo):
                if effect.token:
                    await tx.link_attachment(effect.token, effect.reference)
                await tx.add_request_event(
                    effect.reference,
                    "customer",
                    "info_provided",
                    {"text": effect.text} if effect.text else {"file": True},
                    work.now,
                )
            elif isinstance(effect, CancelRequest):
                record = await tx.get_request(effect.reference)
                if record is not None:  # the dialogue checked it is this customer's own
                    await apply_move(tx, record, "cancel", "customer", work.now)
            elif isinstance(effect, Escalate):
                await tx.record_escalation(work.conversation.id, effect.reason, work.now)
                log.info(
                    "conversation %s waiting for staff (%s)", work.conversation.id, effect.reason
                )

    async def _keep(self, tx: Transaction, work: _Work, token: str) -> None:
        """Store an accepted file: metadata stripped, sealed, described in the database."""
        assert work.conversation is not None
        file = work.files[token]
        assert file.info.media_type and file.info.sha256
        await off_loop(self.blobs.put, token, file.data)  # sealing and a disk write
        work.written.append(token)
        await tx.insert_attachment(
            token=token,
            conversation_id=work.conversation.id,
            inbound_id=work.inbound_id,
            media_type=file.info.media_type,
            size=file.info.size,
            sha256=file.info.sha256,
            now=work.now,
        )

    async def _file(self, tx: Transaction, work: _Work, effect: FileRequest) -> None:
        assert work.conversation is not None and work.outcome is not None
        message, outcome, now = work.message, work.outcome, work.now
        fields = dict(effect.fields)
        code = await tx.get_code(work.conversation.id)
        email = fields.pop("email")
        if (
            code is None
            or code.purpose != "request"
            or code.verified_at is None
            or code.email.casefold() != email.casefold()
        ):
            # The dialogue only files after a verified code; refuse loudly if not.
            raise RuntimeError("refusing to file a request without a verified email")
        reason = fields.pop("reason", None)
        reason_code = fields.get("reason_code")
        if reason is None and reason_code and reason_code != "other":
            reason = self.catalogue.text(outcome.language, f"choice.deletion_reason.{reason_code}")
        full_name = fields.pop("full_name")
        mismatch = code.directory_name is not None and not same_name(full_name, code.directory_name)
        if mismatch:
            fields["name_mismatch"] = True
        status = (
            RequestStatus.VERIFYING if effect.id_proof_token else RequestStatus.AWAITING_ID_PROOF
        )
        await tx.insert_request(
            reference=effect.reference,
            type=effect.type,
            status=status,
            channel=message.channel,
            customer_address=message.address,
            conversation_id=work.conversation.id,
            language=outcome.language,
            full_name=full_name,
            email=email,
            reason=reason,
            details=fields,
            now=now,
            due_date=effect.due_date,
        )
        await tx.add_request_event(
            effect.reference,
            "customer",
            "filed",
            {"status": status.value, "email_verified": True},
            now,
        )
        if mismatch:
            # Not a refusal: staff decide whether the names are the same person.
            await tx.add_request_event(effect.reference, "system", "name_mismatch", {}, now)
        if effect.id_proof_token:
            await tx.link_attachment(effect.id_proof_token, effect.reference)
        # The chat acknowledgement is the receipt; its email copy is queued here.
        filed = await tx.get_request(effect.reference)
        assert filed is not None
        await notify(tx, filed, "receipt", now, serial=0, chat=False)

    async def _send_code(self, tx: Transaction, work: _Work, effect: SendCode) -> None:
        """Issue a code for the email if it qualifies; otherwise record that none
        was sent, so replies, timing and limits look the same either way."""
        assert work.conversation is not None and work.outcome is not None
        now, settings = work.now, self.settings
        previous = await tx.get_code(work.conversation.id)
        attempts, sends = 0, 1
        if previous is not None and previous.verified_at is None:
            # Limits hold for the conversation, not per email: going back and
            # typing an email again must not reset the lock, the attempts or the
            # resend allowance (else guessing and mail bombing are unlimited).
            quiet_for = now - previous.last_sent_at
            locked = previous.locked_until is not None and now < previous.locked_until
            if locked or quiet_for < timedelta(minutes=settings.email_code_lock_minutes):
                too_soon = quiet_for < timedelta(seconds=settings.email_code_resend_seconds)
                if locked or too_soon or previous.sends > settings.email_code_resends:
                    log.info("code not sent: limits of conversation %s", work.conversation.id)
                    # The pending code now belongs to the new email and purpose, and
                    # cannot be used: an old code must never verify another address.
                    previous.purpose, previous.email, previous.digest = (
                        effect.purpose,
                        effect.email,
                        None,
                    )
                    await tx.save_code(previous)
                    return
                attempts, sends = previous.attempts, previous.sends + 1
        code = f"{secrets.randbelow(10**6):06d}"
        # Recorded unarmed (it matches nothing); ``arm_code`` arms it after this
        # transaction, once the address proves eligible, and the mail goes.
        await tx.save_code(
            CodeRecord(
                conversation_id=work.conversation.id,
                purpose=effect.purpose,
                email=effect.email,
                digest=None,
                directory_name=None,
                issued_at=now,
                expires_at=now + timedelta(minutes=settings.email_code_minutes),
                attempts=attempts,
                sends=sends,
                last_sent_at=now,
                locked_until=None,
                verified_at=None,
            )
        )
        mail = self._code_mail(
            effect.email, code, work.outcome.language, f"code:{work.conversation.id}:{_ts(now)}"
        )
        arm = {
            "conversation_id": work.conversation.id,
            "purpose": effect.purpose,
            "email": effect.email,
            "code": code,
            "issued_at": _ts(now),
        }
        expires = now + timedelta(minutes=settings.email_code_minutes)
        queued = await queue_mail(tx, self, "code", mail, now, expires, arm)
        if queued is not None:
            work.codes.append(queued)

    async def _send_queued(self, ids: list[int]) -> None:
        try:
            await send_due_mail(self, ids)
        except Exception as exc:  # the rows stay queued for the outbox worker
            log.warning("code mail left to the outbox worker: %s", type(exc).__name__)

    async def arm_code(self, arm: dict[str, Any]) -> bool:
        """Before a queued code mail goes (outside any transaction: the account
        directory may be a slow HTTP service): whether the address may get a
        code; if so the recorded code is armed. A code replaced meanwhile, or
        over its mailbox's hourly limit, stays unarmed and its mail is dropped.
        Armed already by an earlier try of the same mail: it may go again."""
        effect = SendCode(purpose=arm["purpose"], email=arm["email"])
        eligible, directory_name = await self._code_eligibility(effect)
        if not eligible:
            return False
        digest = self.keyring.code_digest(
            arm["code"], _code_context(arm["conversation_id"], effect)
        )
        now = self.clock()
        async with self.store.transaction() as tx:
            record = await tx.get_code(arm["conversation_id"])
            if (
                record is None
                or _ts(record.issued_at) != arm["issued_at"]
                or record.purpose != effect.purpose
                or record.email.casefold() != effect.email.casefold()
            ):
                return False  # a newer code (or none) is pending now
            if record.digest is not None:
                return record.digest == digest
            # Per mailbox too, across conversations: many phones or Telegram
            # accounts must not be able to flood one inbox with codes.
            mailbox = self.keyring.code_digest(effect.email.casefold(), "code-mail")
            if not await tx.take_code_mail(mailbox, now, self.settings.email_codes_per_hour):
                log.info("code not sent: hourly limit of its email address reached")
                return False
            record.digest = digest
            record.directory_name = directory_name
            await tx.save_code(record)
        return True

    async def _code_eligibility(self, effect: SendCode) -> tuple[bool, str | None]:
        if effect.purpose.startswith("status:"):
            async with self.store.transaction(readonly=True) as tx:
                request = await tx.get_request(effect.purpose.removeprefix("status:"))
            return (
                request is not None and request.email.casefold() == effect.email.casefold(),
                None,
            )
        try:
            account = await self.directory.lookup(effect.email, self.store)
        except DirectoryUnavailable as exc:
            log.warning("account directory unavailable (%s): no code sent", exc)
            return False, None
        return account is not None, account.full_name if account else None

    async def _code_attempt(self, tx: Transaction, work: _Work, effect: CodeAttempt) -> None:
        assert work.conversation is not None
        code = await tx.get_code(work.conversation.id)
        if code is None:
            return
        if effect.ok:
            code.verified_at = work.now
        else:
            code.attempts += 1
            if code.attempts >= self.settings.email_code_attempts:
                code.locked_until = work.now + timedelta(
                    minutes=self.settings.email_code_lock_minutes
                )
        await tx.save_code(code)

    def _code_mail(self, to: str, code: str, language: str, key: str) -> Mail:
        minutes = self.settings.email_code_minutes

        def t(key: str) -> str:
            return self.catalogue.text(language, f"mail.code.{key}").format(
                code=code, minutes=minutes
            )

        return Mail(
            to=to,
            subject=t("subject"),
            text=t("text"),
            html=html_page([t("html_intro"), t("html_validity"), t("html_ignore")], code),
            language=language,
            message_key=key,
        )

    async def flush_mail(self) -> None:
        """Wait for the mail this process started sending after its commits (at
        shutdown, after a chat message, and in tests); what it could not send
        stays queued for the outbox worker."""
        if self._mail_tasks:
            await asyncio.wait(set(self._mail_tasks), timeout=30)

    @staticmethod
    def _update(conversation: ConversationRecord, outcome: Outcome, now: datetime) -> None:
        if conversation.claimed_by:
            pass  # staff hold it: the waiting time stays as it was
        elif outcome.state == "staff":
            conversation.waiting_staff_since = conversation.waiting_staff_since or now
        else:
            conversation.waiting_staff_since = None
        conversation.state = outcome.state
        conversation.slots = outcome.slots
        conversation.language = outcome.language
        conversation.failures = outcome.failures
        conversation.updated_at = now
        conversation.last_activity_at = now
