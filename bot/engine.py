"""The conversation engine: one inbound message in, one transaction, replies out.

Inside a single database transaction the engine records the message, loads
the conversation, runs the pure dialogue, applies its effects (files kept,
requests filed), saves the new state and records the rendered replies. If
anything fails, none of it is kept, and files written for it are removed.
A message id seen before is answered with the replies recorded the first
time and not processed again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.blobs import BlobStore
from bot.business_days import due_date
from bot.catalogue import Catalogue
from bot.models import (
    Channel,
    ConversationRecord,
    InboundFile,
    InboundMessage,
    OutboundMessage,
    RequestStatus,
)
from bot.settings import Settings
from bot.store import DuplicateReference, Store, Transaction
from flows.dialogue import MENU, Dialogue, draft_files, holds_draft
from flows.types import (
    AttachmentInfo,
    AttachProof,
    Context,
    DiscardAttachments,
    Escalate,
    FileRequest,
    Inbound,
    KeepAttachment,
    KnownRequest,
    Outcome,
    Snapshot,
)
from flows.validators import CROCKFORD_ALPHABET, sniff_media_type

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_SURROGATES = re.compile("[\ud800-\udfff]")
REFERENCE_ATTEMPTS = 8


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_reference_suffix() -> str:
    return "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(6))


@dataclass
class _File:
    info: AttachmentInfo
    data: bytes


class Engine:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        settings: Settings,
        catalogue: Catalogue,
        dialogue: Dialogue,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.catalogue = catalogue
        self.dialogue = dialogue
        self.clock = clock

    async def handle(self, message: InboundMessage) -> list[OutboundMessage]:
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
        )
        for _ in range(REFERENCE_ATTEMPTS):
            try:
                return await self._handle_once(message, inbound, files)
            except DuplicateReference:
                log.warning("request reference collided; retrying with a new one")
        raise RuntimeError("could not allocate a unique request reference")

    async def set_language(self, channel: Channel, address: str, language: str) -> None:
        async with self.store.transaction() as tx:
            conversation = await self._conversation(tx, channel, address, self.clock())
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
                conversation.state = MENU
                conversation.slots = {}
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
        if file.size == 0:
            return _File(AttachmentInfo(token, 0, None, None, "empty"), b"")
        if file.size > self.settings.max_attachment_bytes:
            return _File(AttachmentInfo(token, file.size, None, None, "too_large"), b"")
        media_type = sniff_media_type(file.data[:2048])
        if media_type is None:
            return _File(AttachmentInfo(token, file.size, None, None, "unsupported_type"), b"")
        digest = hashlib.sha256(file.data).hexdigest()
        return _File(AttachmentInfo(token, len(file.data), media_type, digest), file.data)

    async def _conversation(
        self, tx: Transaction, channel: Channel, address: str, now: datetime
    ) -> ConversationRecord:
        found = await tx.get_conversation(channel, address)
        if found is not None:
            return found
        return await tx.create_conversation(
            channel, address, self.dialogue.initial_state, self.settings.default_language, now
        )

    async def _handle_once(
        self, message: InboundMessage, inbound: Inbound, files: list[_File]
    ) -> list[OutboundMessage]:
        written: list[str] = []
        discarded: list[str] = []
        try:
            async with self.store.transaction() as tx:
                seen = await tx.find_inbound(message.channel, message.message_id)
                if seen is not None:
                    return self._outbound(message, *await tx.replies_to(seen))

                now = self.clock()
                conversation = await self._conversation(tx, message.channel, message.address, now)
                known = await tx.requests_for_address(message.channel, message.address)
                context = Context(
                    now=now,
                    new_reference_suffix=new_reference_suffix(),
                    due_date=due_date(
                        now, self.settings.completion_business_days, self.settings.timezone
                    ),
                    requests=tuple(
                        KnownRequest(r.reference, r.type, r.status.value, r.due_date) for r in known
                    ),
                    resume_after_hours=self.settings.draft_resume_hours,
                    draft_expiry_days=self.settings.draft_expiry_days,
                    max_failures=self.settings.max_failures,
                    max_text_length=self.settings.max_text_length,
                    max_attachment_bytes=self.settings.max_attachment_bytes,
                )
                snapshot = Snapshot(
                    state=conversation.state,
                    slots=conversation.slots,
                    language=conversation.language,
                    failures=conversation.failures,
                    last_activity=conversation.last_activity_at,
                )
                outcome = self.dialogue.step(snapshot, inbound, context)

                inbound_id = await tx.record_inbound(
                    conversation.id,
                    message.channel,
                    message.message_id,
                    message.text[: self.settings.max_text_length],
                    truncated=inbound.oversized,
                    attachment_count=len(files),
                    state_before=conversation.state,
                    state_after=outcome.state,
                    now=now,
                )
                by_token = {f.info.token: f for f in files}
                await self._apply(
                    tx,
                    conversation,
                    message,
                    outcome,
                    by_token,
                    inbound_id,
                    now,
                    written,
                    discarded,
                )
                self._update(conversation, outcome, now)
                await tx.save_conversation(conversation)

                replies = [
                    (r.key, self.catalogue.render(outcome.language, r)) for r in outcome.replies
                ]
                await tx.record_outbound(
                    conversation.id, inbound_id, outcome.language, replies, now
                )
                log.info(
                    "message handled: conversation=%s %s -> %s replies=%d effects=%s",
                    conversation.id,
                    snapshot.state,
                    outcome.state,
                    len(replies),
                    ",".join(type(e).__name__ for e in outcome.effects) or "-",
                )
        except BaseException:
            for token in written:
                self.blobs.delete(token)
            raise
        for token in discarded:
            self.blobs.delete(token)
        return self._outbound(message, outcome.language, replies)

    async def _apply(
        self,
        tx: Transaction,
        conversation: ConversationRecord,
        message: InboundMessage,
        outcome: Outcome,
        files: dict[str, _File],
        inbound_id: int,
        now: datetime,
        written: list[str],
        discarded: list[str],
    ) -> None:
        async def keep(token: str) -> None:
            file = files[token]
            self.blobs.put(token, file.data)
            written.append(token)
            assert file.info.media_type and file.info.sha256
            await tx.insert_attachment(
                token=token,
                conversation_id=conversation.id,
                inbound_id=inbound_id,
                media_type=file.info.media_type,
                size=file.info.size,
                sha256=file.info.sha256,
                now=now,
            )

        for effect in outcome.effects:
            if isinstance(effect, KeepAttachment):
                await keep(effect.token)
            elif isinstance(effect, DiscardAttachments):
                await tx.mark_attachments_deleted(effect.tokens, now)
                discarded.extend(effect.tokens)
            elif isinstance(effect, AttachProof):
                if effect.token in files:
                    await keep(effect.token)
                await tx.link_attachment(effect.token, effect.reference)
                await tx.set_request_status(effect.reference, RequestStatus.VERIFYING, now)
                await tx.add_request_event(
                    effect.reference, "customer", "id_proof_received", {}, now
                )
            elif isinstance(effect, FileRequest):
                await self._file(tx, conversation, message, outcome, effect, now)
            elif isinstance(effect, Escalate):
                log.info("conversation %s waiting for staff (%s)", conversation.id, effect.reason)

    async def _file(
        self,
        tx: Transaction,
        conversation: ConversationRecord,
        message: InboundMessage,
        outcome: Outcome,
        effect: FileRequest,
        now: datetime,
    ) -> None:
        fields = dict(effect.fields)
        reason = fields.pop("reason", None)
        code = fields.get("reason_code")
        if reason is None and code and code != "other":
            reason = self.catalogue.text(outcome.language, f"choice.deletion_reason.{code}")
        status = (
            RequestStatus.VERIFYING if effect.id_proof_token else RequestStatus.AWAITING_ID_PROOF
        )
        await tx.insert_request(
            reference=effect.reference,
            type=effect.type,
            status=status,
            channel=message.channel,
            customer_address=message.address,
            conversation_id=conversation.id,
            language=outcome.language,
            full_name=fields.pop("full_name"),
            email=fields.pop("email"),
            reason=reason,
            details=fields,
            now=now,
            due_date=effect.due_date,
        )
        await tx.add_request_event(
            effect.reference, "customer", "filed", {"status": status.value}, now
        )
        if effect.id_proof_token:
            await tx.link_attachment(effect.id_proof_token, effect.reference)

    @staticmethod
    def _update(conversation: ConversationRecord, outcome: Outcome, now: datetime) -> None:
        if outcome.state == "staff":
            conversation.waiting_staff_since = conversation.waiting_staff_since or now
        else:
            conversation.waiting_staff_since = None
        conversation.state = outcome.state
        conversation.slots = outcome.slots
        conversation.language = outcome.language
        conversation.failures = outcome.failures
        conversation.updated_at = now
        conversation.last_activity_at = now

    @staticmethod
    def _outbound(
        message: InboundMessage, language: str, replies: list[tuple[str, str]]
    ) -> list[OutboundMessage]:
        return [
            OutboundMessage(message.channel, message.address, key, text, language)
            for key, text in replies
        ]
