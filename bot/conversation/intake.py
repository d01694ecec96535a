"""What an inbound message brings, made safe before the dialogue sees it.

Files are checked (size, real type by their bytes) and images re-encoded
without their metadata, so GPS position, device and times never reach
storage; text is cleaned of what cannot be stored. It is CPU work, run off
the event loop by the engine when a message carries files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass

from bot.domain.models import InboundFile, InboundMessage
from bot.infra.images import ImageUnreadable, strip_metadata
from bot.services import Services
from flows.dialogue import asks_code
from flows.types import AttachmentInfo, Inbound
from flows.validators import mask_digits, sniff_media_type

SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass
class IntakeFile:
    info: AttachmentInfo
    data: bytes


def kept_text(state: str, text: str) -> str:
    """An inbound text as recorded: answered at a code step, its digits masked."""
    return mask_digits(text) if asks_code(state) else text


def prepare(
    services: Services, message: InboundMessage
) -> tuple[InboundMessage, Inbound, list[IntakeFile]]:
    # Lone surrogates (undecodable bytes a channel let through) cannot be
    # stored as UTF-8: make them visible replacement characters instead.
    text = SURROGATES.sub("\ufffd", message.text)
    if text != message.text:
        message = dataclasses.replace(message, text=text)
    files = [_inspect(services, f) for f in message.files]
    limit = services.settings.max_text_length
    inbound = Inbound(
        text=message.text if len(message.text) <= limit else "",
        attachments=tuple(f.info for f in files),
        oversized=len(message.text) > limit,
        expected_state=message.expected_state,
    )
    return message, inbound, files


def _inspect(services: Services, file: InboundFile) -> IntakeFile:
    token = services.blobs.new_token()
    if not file.fetched:
        return IntakeFile(AttachmentInfo(token, file.size, None, None, "download_failed"), b"")
    if file.size == 0:
        return IntakeFile(AttachmentInfo(token, 0, None, None, "empty"), b"")
    if file.size > services.settings.max_attachment_bytes:
        return IntakeFile(AttachmentInfo(token, file.size, None, None, "too_large"), b"")
    media_type = sniff_media_type(file.data[:2048])
    if media_type is None:
        return IntakeFile(AttachmentInfo(token, file.size, None, None, "unsupported_type"), b"")
    try:
        # What is kept (and hashed) is the image without its metadata:
        # GPS position, device and times never reach storage.
        data = strip_metadata(file.data, media_type)
    except ImageUnreadable:
        return IntakeFile(AttachmentInfo(token, file.size, media_type, None, "unreadable"), b"")
    digest = hashlib.sha256(data).hexdigest()
    return IntakeFile(AttachmentInfo(token, len(data), media_type, digest), data)
