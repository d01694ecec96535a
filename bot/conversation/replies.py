"""Replies as the customer's channel shows them, in their language.

On SMS a reply that asks for ID proof carries a one-time upload link (a
text message cannot carry a photo); the link is created here, in the
message's transaction.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import datetime, timedelta

from bot.domain.models import Channel, ConversationRecord
from bot.infra.crypto import hash_token
from bot.services import Services
from bot.store import Transaction
from flows.types import Reply

# Replies that ask for ID proof: on SMS they carry a one-time upload link.
UPLOAD_LINK_KEYS = ("prompt.id_proof", "hint.id_proof", "filed.proof_later")


async def render(
    services: Services,
    tx: Transaction,
    conversation: ConversationRecord,
    language: str,
    reply: Reply,
    now: datetime,
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(key, text, buttons) of a reply as its channel shows it."""
    variant = "sms" if conversation.channel is Channel.SMS else None
    if holds_link(conversation, reply.key):
        # SMS cannot carry a photo: ask for it through a one-time link.
        reply = dataclasses.replace(
            reply,
            params={
                **reply.params,
                "upload_url": await _upload_link(services, tx, conversation, now),
                "hours": services.settings.upload_link_hours,
            },
        )
    text = services.catalogue.render(language, reply, variant)
    buttons = tuple((services.catalogue.label(language, b.label), b.value) for b in reply.buttons)
    return reply.key, text, buttons


def holds_link(conversation: ConversationRecord, key: str) -> bool:
    """Whether this reply carries a one-time upload link (SMS only)."""
    return conversation.channel is Channel.SMS and key in UPLOAD_LINK_KEYS


async def _upload_link(
    services: Services, tx: Transaction, conversation: ConversationRecord, now: datetime
) -> str:
    token = secrets.token_urlsafe(24)  # 192 bits
    expires = now + timedelta(hours=services.settings.upload_link_hours)
    await tx.create_upload_token(hash_token(token), conversation.id, now, expires)
    return f"{services.settings.public_url.rstrip('/')}/upload/{token}"
