"""Email codes: what a code is bound to, its mail, and arming it before it goes.

A code is recorded unarmed in the message's transaction (it matches nothing)
and armed by the outbox worker right before its mail leaves, outside any
transaction, because the account directory may be a slow HTTP service. So a
code nobody may receive never works, and a mailbox's hourly limit is counted
only for mails that really go.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from bot.infra.catalogue import Catalogue
from bot.infra.directory import DirectoryUnavailable
from bot.infra.mail import Mail, html_page
from bot.services import Services
from flows.types import SendCode

log = logging.getLogger(__name__)


def utc_iso(value: datetime) -> str:
    """A time as a queued code mail records it (UTC, ISO 8601)."""
    return value.astimezone(UTC).isoformat()


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
        ):
            return False  # a newer code (or none) is pending now
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
