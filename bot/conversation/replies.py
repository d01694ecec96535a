"""Replies as the customer's channel shows them, in their language.

On SMS a reply that asks for ID proof carries a one-time upload link (a
text message cannot carry a photo); the link is made when the dialogue's
``OfferUpload`` effect is applied, in the message's transaction.
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


def render(
    services: Services,
    conversation: ConversationRecord,
    language: str,
    reply: Reply,
    upload_url: str | None,
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(key, text, buttons) of a reply as its channel shows it; a reply that
    asks for a file carries ``upload_url`` when the message made one."""
    variant = "sms" if conversation.channel is Channel.SMS else None
    if holds_link(reply, upload_url):
        reply = dataclasses.replace(
            reply,
            params={
                **reply.params,
                "upload_url": upload_url,
                "hours": services.settings.upload_link_hours,
            },
        )
    text = services.catalogue.render(language, reply, variant)
    buttons = tuple((services.catalogue.label(language, b.label), b.value) for b in reply.buttons)
    return reply.key, text, buttons


def holds_link(reply: Reply, upload_url: str | None) -> bool:
    """Whether this reply carries a one-time upload link (then it is kept
    sealed: whoever holds the link can add an ID proof)."""
    return reply.asks_for_file and upload_url is not None


async def create_upload_link(
    services: Services, tx: Transaction, conversation: ConversationRecord, now: datetime
) -> str:
    """A one-time link to send a file through the web, for channels that cannot carry one."""
    token = secrets.token_urlsafe(24)  # 192 bits
    expires = now + timedelta(hours=services.settings.upload_link_hours)
    await tx.create_upload_token(hash_token(token), conversation.id, now, expires)
    return f"{services.settings.public_url.rstrip('/')}/upload/{token}"
