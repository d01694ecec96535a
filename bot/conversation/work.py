"""What one message's transaction did, for what must happen after it
(files to remove if it does not commit, code mails to send once it did)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.conversation.intake import IntakeFile
from bot.domain.models import ConversationRecord, InboundMessage
from bot.store.interface.conversations import InboundRef
from flows.types import Outcome

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Work:
    """What one message's transaction did, for what must happen after it."""

    message: InboundMessage
    files: dict[str, IntakeFile]
    now: datetime = _EPOCH
    conversation: ConversationRecord | None = None
    outcome: Outcome | None = None
    inbound_id: InboundRef | None = None
    written: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)  # code mails queued in the outbox
    upload_url: str | None = None  # a one-time upload link this message made
