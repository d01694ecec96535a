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
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from bot.conversation.codes import arm_code, code_state
from bot.conversation.drafts import discard_stale_drafts
from bot.conversation.effects import apply_effects
from bot.conversation.intake import IntakeFile, kept_text, prepare
from bot.conversation.repeats import ForeignRepeat, recorded_answer
from bot.conversation.replies import holds_link, render
from bot.conversation.work import Work
from bot.delivery.mail_outbox import send_due_mail
from bot.domain.business_days import due_date, due_dates
from bot.domain.models import (
    Channel,
    Control,
    ConversationRecord,
    InboundFile,
    InboundMessage,
    OutboundMessage,
)
from bot.domain.support_hours import SupportHours
from bot.infra.catalogue import LANGUAGES
from bot.infra.cpu import off_loop
from bot.infra.crypto import hash_token
from bot.requests.lookup import as_known
from bot.services import Services
from bot.store import Conflict, DuplicateReference, MessageContext, Transaction
from flows.dialogue import (
    Dialogue,
    answers_while_held,
)
from flows.types import (
    Context,
    Inbound,
    KeepAttachment,
    Outcome,
    Reply,
    RequestType,
    Snapshot,
)
from flows.validators import CROCKFORD_ALPHABET

log = logging.getLogger(__name__)

# ForeignRepeat is the engine's error as the channels see it.
__all__ = ["Engine", "ForeignRepeat", "UploadLinkInvalid", "UploadResult"]

REFERENCE_ATTEMPTS = 8
_TYPE_NAMES = tuple(t.value for t in RequestType)


def new_reference_suffix() -> str:
    """Six random characters of the 32-letter alphabet from one read of the
    system's randomness (a byte modulo 32 is uniform, as 256 = 8 x 32); every
    message gets one in case it files a request, so one read instead of six."""
    return "".join(CROCKFORD_ALPHABET[b % 32] for b in secrets.token_bytes(6))


class UploadLinkInvalid(Exception):
    """The upload link is unknown, used or expired."""


@dataclass(frozen=True)
class UploadResult:
    accepted: bool
    replies: list[OutboundMessage]
    language: str


def conversation_key(channel: Channel, address: str) -> str:
    """What a conversation's units of work take turns on, across instances
    (``Store.transaction``): a customer's messages are handled one at a time,
    different customers' side by side."""
    return f"conversation:{channel.value}:{address}"


class Engine:
    def __init__(self, services: Services, dialogue: Dialogue) -> None:
        self.services = services
        self.dialogue = dialogue
        self.support_hours = SupportHours.parse(
            services.settings.support_hours, services.settings.timezone
        )
        self._mail_tasks: set[asyncio.Task[None]] = set()

    async def handle(
        self, message: InboundMessage, answered: bool = False
    ) -> list[OutboundMessage]:
        """Process one inbound message; the replies to send back. ``answered``:
        the channel carries them in its answer to the provider's webhook
        (Twilio's TwiML), so they are recorded sent in the message's own
        transaction: a repeated webhook finds them sent, without a second
        transaction."""
        # Decoding images to strip their metadata is CPU work: keep it off the loop.
        # A text alone takes no slot, so a flood of logins or exports cannot hold it up.
        if message.files:
            message, inbound, files = await off_loop(prepare, self.services, message)
        else:
            message, inbound, files = prepare(self.services, message)
        for _ in range(REFERENCE_ATTEMPTS):
            try:
                unit = self._in_transaction(message, inbound, files, upload=None, answered=answered)
                # Shielded when it writes files: a caller cancelled mid-way (a
                # shutdown) must not cut the transaction between its commit and
                # their clean-up. A text alone needs no clean-up (and the store
                # sees its own COMMIT through), so it spares the task.
                replies, _ = await (asyncio.shield(unit) if files else unit)
                return replies
            except DuplicateReference:
                log.warning("request reference collided; retrying with a new one")
            except Conflict:
                # Another instance recorded the same message id from another
                # sender at the same time: run again, seeing its row now (and
                # refusing this one as a foreign repeat).
                log.info("message raced another instance's; handled again")
        raise RuntimeError("could not allocate a unique request reference")

    async def handle_upload(self, token: str, file: InboundFile) -> UploadResult:
        """A file sent through a one-time upload link (for phones on SMS).

        The link is used up only when the file is accepted; a refused file can
        be replaced from the same page.
        """
        token_hash = hash_token(token)
        async with self.services.store.transaction(readonly=True) as tx:
            conversation_id = await tx.upload_token_conversation(token_hash, self.services.clock())
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
        message, inbound, files = await off_loop(prepare, self.services, message)
        replies, work = await asyncio.shield(
            self._in_transaction(message, inbound, files, upload=token_hash)
        )
        # Accepted means kept: the same test that uses up the link.
        return UploadResult(
            accepted=bool(work.written), replies=replies, language=conversation.language
        )

    async def upload_page_language(self, token: str) -> str | None:
        """The language of a valid upload link's conversation, None if invalid."""
        async with self.services.store.transaction(readonly=True) as tx:
            conversation_id = await tx.upload_token_conversation(
                hash_token(token), self.services.clock()
            )
            conversation = (
                await tx.get_conversation_by_id(conversation_id) if conversation_id else None
            )
        return conversation.language if conversation else None

    async def expects_file(self, channel: Channel, address: str) -> bool:
        """Whether a file from this customer would be used now (else it need
        not be downloaded at all)."""
        async with self.services.store.transaction(readonly=True) as tx:
            conversation = await tx.get_conversation(channel, address)
            if conversation is None:
                return False
            if conversation.claimed_by:
                return True  # a person holds the chat: they open its files from its page
            known = await tx.requests_for_address(channel, address)
        return self.dialogue.expects_file(
            conversation.state,
            tuple(as_known(r) for r in known),
            conversation.slots.get("info_ref"),
        )

    async def recorded_replies(
        self, channel: Channel, address: str, message_id: str
    ) -> list[OutboundMessage] | None:
        """The replies to a message already handled, or None if it is new."""
        async with self.services.store.transaction(readonly=True) as tx:
            seen = await tx.find_inbound(channel, message_id)
            if seen is None:
                return None
            sender = await tx.inbound_sender(seen)
            return await recorded_answer(self.services, tx, channel, address, seen, sender)

    async def set_language(self, channel: Channel, address: str, language: str) -> None:
        async with self.services.store.transaction(key=conversation_key(channel, address)) as tx:
            probe = InboundMessage(channel, address, "", language_hint=language)
            conversation = await self._conversation(tx, probe, self.services.clock())
            conversation.language = language
            await tx.save_conversation(conversation)

    async def discard_stale_drafts(self) -> int:
        return await discard_stale_drafts(self.services)

    # internals ----------------------------------------------------------

    async def _conversation(
        self, tx: Transaction, message: InboundMessage, now: datetime
    ) -> ConversationRecord:
        found = await tx.get_conversation(message.channel, message.address)
        if found is not None:
            return found
        hint = (message.language_hint or "").lower()[:2]
        language = hint if hint in LANGUAGES else self.services.settings.default_language
        return await tx.create_conversation(
            message.channel, message.address, self.dialogue.initial_state, language, now
        )

    async def _in_transaction(
        self,
        message: InboundMessage,
        inbound: Inbound,
        files: list[IntakeFile],
        upload: str | None,
        answered: bool = False,
    ) -> tuple[list[OutboundMessage], Work]:
        """All of one message's work in one transaction. Files written for it
        are removed again if the transaction does not commit; mail (codes) is
        queued in it and goes out only after it committed."""
        attempts: list[Work] = []

        async def attempt(tx: Transaction) -> list[OutboundMessage]:
            # A fresh record of what it did each time: the store may try the
            # body on its own thread first and run it again here.
            attempts.append(Work(message=message, files={f.info.token: f for f in files}))
            return await self._unit(tx, attempts[-1], inbound, upload, answered)

        try:
            key = conversation_key(message.channel, message.address)
            async with self.services.store.transaction(key=key) as tx:
                # A text alone may be run by the store where it costs least
                # (``Transaction.run``); files are written off the event loop.
                replies = await (tx.run(attempt) if not files else attempt(tx))
        except BaseException:
            for tried in attempts:
                for token in tried.written:
                    self.services.blobs.delete(token)
            raise
        *abandoned, work = attempts
        for token in [t for tried in abandoned for t in tried.written] + work.discarded:
            self.services.blobs.delete(token)
        if work.codes:
            # Not awaited, whatever the mailer: a registered email must not answer
            # slower than an unknown one (and neither the account directory nor a
            # mail server may hold up a webhook). Queued: if this process dies
            # first, the outbox worker sends them.
            task = asyncio.create_task(self._send_queued(work.codes))
            self._mail_tasks.add(task)
            task.add_done_callback(self._mail_tasks.discard)
        return replies, work

    async def _unit(
        self,
        tx: Transaction,
        work: Work,
        inbound: Inbound,
        upload: str | None,
        answered: bool,
    ) -> list[OutboundMessage]:
        """The message's unit of work: it changes nothing but the database
        (and ``work``) until it returns."""
        message = work.message
        # One query: a repeat is answered as the first time, and a new
        # message needs its conversation.
        read = await tx.message_context(message.channel, message.address, message.message_id)
        if read.seen is not None:
            return await recorded_answer(
                self.services, tx, message.channel, message.address, read.seen, read.sender
            )
        now = work.now = self.services.clock()
        if upload is not None and not await tx.upload_token_conversation(upload, now):
            raise UploadLinkInvalid()  # used or expired since we looked
        conversation = work.conversation = read.conversation or await self._conversation(
            tx, message, now
        )
        if message.control is not None:
            outcome = await self._control(tx, conversation, message, now)
        elif conversation.claimed_by:
            # A person has this chat: the bot keeps quiet and only records
            # (the files too: staff open them from the chat's page), but a
            # request staff asked more about still takes the answer.
            tokens = [a.token for a in inbound.attachments if not a.problem]
            outcome = Outcome(
                conversation.state,
                conversation.slots,
                conversation.language,
                conversation.failures,
                [],
                [
                    *(KeepAttachment(token) for token in tokens),
                    *answers_while_held([as_known(r) for r in read.requests], inbound.text, tokens),
                ],
            )
        else:
            outcome = await self._dialogue(tx, conversation, inbound, now, read)
        work.outcome = outcome
        work.inbound_id = await tx.record_inbound(
            conversation.id,
            message.channel,
            message.message_id,
            # A code typed at a code step is checked above, never kept.
            kept_text(conversation.state, message.text[: self.services.settings.max_text_length]),
            truncated=inbound.oversized,
            attachment_count=len(work.files),
            state_before=conversation.state,
            state_after=outcome.state,
            now=now,
        )
        await apply_effects(self.services, tx, work)
        if upload is not None and work.written:
            await tx.use_upload_token(upload, now)
        if log.isEnabledFor(logging.DEBUG):  # every message is in the database
            log.debug(
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
            render(self.services, conversation, outcome.language, r, work.upload_url)
            for r in outcome.replies
        ]
        # A reply carrying an upload link (whoever holds it can add an ID
        # proof) is kept sealed, not in clear.
        sealed = [holds_link(r, work.upload_url) for r in outcome.replies]
        ids = await tx.record_outbound(
            conversation.id,
            work.inbound_id,
            outcome.language,
            outcome.state,
            [
                (key, self.services.keyring.seal_text(text) if seal else text, buttons)
                for (key, text, buttons), seal in zip(rendered, sealed, strict=True)
            ],
            now,
            sealed=sealed,
            sent=answered,
        )
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
                sent=answered,
            )
            for id_, (key, text, buttons) in zip(ids, rendered, strict=True)
        ]

    async def _dialogue(
        self,
        tx: Transaction,
        conversation: ConversationRecord,
        inbound: Inbound,
        now: datetime,
        read: MessageContext,
    ) -> Outcome:
        pending, verified = await code_state(
            self.services, tx, conversation, inbound, now, read.code
        )
        settings = self.services.settings
        email = conversation.slots.get("email")
        same_email = await tx.open_requests_for_email(email) if email else []
        context = Context(
            now=now,
            new_reference_suffix=new_reference_suffix(),
            due_date=due_date(now, settings.completion_business_days, settings.timezone),
            due_dates=dict(
                zip(
                    RequestType,
                    due_dates(
                        _TYPE_NAMES,
                        now,
                        settings.sla_profile,
                        settings.completion_business_days,
                        settings.timezone,
                    ),
                    strict=True,
                )
            ),
            requests=tuple(as_known(r) for r in read.requests),
            open_same_email=tuple(as_known(r) for r in same_email),
            code=pending,
            verified_request=verified,
            code_minutes=self.services.settings.email_code_minutes,
            code_lock_minutes=self.services.settings.email_code_lock_minutes,
            resume_after_hours=self.services.settings.draft_resume_hours,
            draft_expiry_days=self.services.settings.draft_expiry_days,
            max_failures=self.services.settings.max_failures,
            max_text_length=self.services.settings.max_text_length,
            max_attachment_bytes=self.services.settings.max_attachment_bytes,
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

    async def _send_queued(self, ids: list[int]) -> None:
        try:
            await send_due_mail(self.services, ids, arm=partial(arm_code, self.services))
        except Exception as exc:  # the rows stay queued for the outbox worker
            log.warning("code mail left to the outbox worker: %s", type(exc).__name__)

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
