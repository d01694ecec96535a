"""Email codes: what a code is bound to, its mail, and arming it before it goes.

A code is recorded unarmed in the message's transaction (it matches nothing)
and armed by the outbox worker right before its mail leaves, outside any
transaction, because the account directory may be a slow HTTP service. So a
code nobody may receive never works, and a mailbox's hourly limit is counted
only for mails that really go.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from bot.conversation.work import Work
from bot.delivery.mail_outbox import queue_mail
from bot.domain.models import CodeRecord, ConversationRecord
from bot.domain.timestamps import utc_iso
from bot.infra.catalogue import Catalogue
from bot.infra.directory import DirectoryUnavailable
from bot.infra.mail import Mail, html_page
from bot.services import Services
from bot.store import Transaction
from flows.types import CodeAttempt, CodeState, Inbound, KnownRequest, SendCode

log = logging.getLogger(__name__)


def code_context(conversation_id: int, effect: SendCode) -> str:
    """What a code is bound to: this conversation, this purpose, this email."""
    return f"{conversation_id}:{effect.purpose}:{effect.email.casefold()}"


def code_mail(
    catalogue: Catalogue, minutes: int, to: str, code: str, language: str, key: str
) -> Mail:
    """The mail that carries a chat's email code, in the customer's language."""

    def t(key: str) -> str:
        return catalogue.text(language, f"mail.code.{key}").format(code=code, minutes=minutes)

    return Mail(
        to=to,
        subject=t("subject"),
        text=t("text"),
        html=html_page([t("html_intro"), t("html_validity"), t("html_ignore")], code),
        language=language,
        message_key=key,
    )


async def arm_code(services: Services, arm: dict[str, Any]) -> bool:
    """Before a queued code mail goes (outside any transaction: the account
    directory may be a slow HTTP service): whether the address may get a
    code; if so the recorded code is armed. A code replaced meanwhile, or
    over its mailbox's hourly limit, stays unarmed and its mail is dropped.
    Armed already by an earlier try of the same mail: it may go again."""
    effect = SendCode(purpose=arm["purpose"], email=arm["email"])
    eligible, directory_name = await _eligibility(services, effect)
    if not eligible:
        return False
    digest = services.keyring.code_digest(arm["code"], code_context(arm["conversation_id"], effect))
    now = services.clock()
    async with services.store.transaction() as tx:
        record = await tx.get_code(arm["conversation_id"])
        if (
            record is None
            or utc_iso(record.issued_at) != arm["issued_at"]
            or record.purpose != effect.purpose
            or record.email.casefold() != effect.email.casefold()
            or record.verified_at is not None
        ):
            return False  # a newer code (or none) is pending now, or this one was used
        if record.digest is not None:
            return record.digest == digest
        # Per mailbox too, across conversations: many phones or Telegram
        # accounts must not be able to flood one inbox with codes.
        mailbox = services.keyring.code_digest(effect.email.casefold(), "code-mail")
        if not await tx.take_code_mail(mailbox, now, services.settings.email_codes_per_hour):
            log.info("code not sent: hourly limit of its email address reached")
            return False
        record.digest = digest
        record.directory_name = directory_name
        await tx.save_code(record)
    return True


async def _eligibility(services: Services, effect: SendCode) -> tuple[bool, str | None]:
    if effect.purpose.startswith("status:"):
        async with services.store.transaction(readonly=True) as tx:
            request = await tx.get_request(effect.purpose.removeprefix("status:"))
        return (
            request is not None and request.email.casefold() == effect.email.casefold(),
            None,
        )
    try:
        account = await services.directory.lookup(effect.email, services.store)
    except DirectoryUnavailable as exc:
        log.warning("account directory unavailable (%s): no code sent", exc)
        return False, None
    return account is not None, account.full_name if account else None


async def issue_code(services: Services, tx: Transaction, work: Work, effect: SendCode) -> None:
    """Issue a code for the email if it qualifies; otherwise record that none
    was sent, so replies, timing and limits look the same either way."""
    assert work.conversation is not None and work.outcome is not None
    now, settings = work.now, services.settings
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
    mail = code_mail(
        services.catalogue,
        services.settings.email_code_minutes,
        effect.email,
        code,
        work.outcome.language,
        f"code:{work.conversation.id}:{utc_iso(now)}",
    )
    arm = {
        "conversation_id": work.conversation.id,
        "purpose": effect.purpose,
        "email": effect.email,
        "code": code,
        "issued_at": utc_iso(now),
    }
    expires = now + timedelta(minutes=settings.email_code_minutes)
    queued = await queue_mail(tx, services, "code", mail, now, expires, arm)
    if queued is not None:
        work.codes.append(queued)


async def code_state(
    services: Services,
    tx: Transaction,
    conversation: ConversationRecord,
    inbound: Inbound,
    now: datetime,
    record: CodeRecord | None,
) -> tuple[CodeState | None, KnownRequest | None]:
    """The pending code (``record``, read with the message's context) as the
    dialogue may know it, with the verdict on this message if it is a code
    (compared in constant time, never shown)."""
    if record is None:
        return None, None
    settings = services.settings
    typed = "".join(inbound.text.split())
    typed_ok: bool | None = None
    if len(typed) == 6 and typed.isdigit():
        effect = SendCode(record.purpose, record.email)
        typed_ok = record.digest is not None and services.keyring.code_matches(
            typed, code_context(conversation.id, effect), record.digest
        )
    state = CodeState(
        purpose=record.purpose,
        expires_at=record.expires_at,
        attempts_left=max(0, settings.email_code_attempts - record.attempts),
        resends_left=max(0, settings.email_code_resends - (record.sends - 1)),
        next_resend_at=record.last_sent_at + timedelta(seconds=settings.email_code_resend_seconds),
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


async def record_attempt(
    services: Services, tx: Transaction, work: Work, effect: CodeAttempt
) -> None:
    assert work.conversation is not None
    code = await tx.get_code(work.conversation.id)
    if code is None:
        return
    if effect.ok:
        code.verified_at = work.now
    else:
        code.attempts += 1
        if code.attempts >= services.settings.email_code_attempts:
            code.locked_until = work.now + timedelta(
                minutes=services.settings.email_code_lock_minutes
            )
    await tx.save_code(code)
