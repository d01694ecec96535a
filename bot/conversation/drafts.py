"""Drafts nobody came back to: removed, with their files, after the expiry
period, so an abandoned ID proof does not wait for a message that never
comes (the customer is told on their next message)."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.services import Services
from flows.dialogue import draft_files, expire_draft, holds_draft

log = logging.getLogger(__name__)


async def discard_stale_drafts(services: Services) -> int:
    """How many drafts were removed."""
    now = services.clock()
    cutoff = now - timedelta(days=services.settings.draft_expiry_days)
    discarded: list[str] = []
    removed = 0
    async with services.store.transaction() as tx:
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
        services.blobs.delete(token)
    if removed:
        log.info("discarded %d abandoned drafts", removed)
    return removed
