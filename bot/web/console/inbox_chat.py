"""A chat's transcript as bubbles: the customer on the left, the bot and
staff on the right, notes in their own colour, staff acts as small centred
lines; the files the customer sent as thumbnails or file chips; and for each
message from staff what the database knows of its delivery (on its way, sent,
delivered, read, or failed with the provider's reason and where it went next).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.delivery.channels import PULLED_CHANNELS
from bot.domain.models import Channel, TranscriptLine
from bot.store.interface.chats import ChatFile, ChatMessage
from bot.web.console.words import Words

# A message from staff not taken by a channel within this long did not go
# (a reply is sent at once; the email route waits for the mail outbox).
STILL_SENDING = timedelta(minutes=10)
FAILED = ("failed", "undelivered")


@dataclass(frozen=True)
class FileChip:
    href: str
    image: bool
    label: str
    deleted: bool


@dataclass(frozen=True)
class Bubble:
    """One line as shown: ``kind`` customer, bot, staff, note or event; ``text``
    None for a sealed message; ``state`` a delivery state (for the style) with
    its words and what happened next."""

    kind: str
    author: str
    at: str
    text: str | None
    files: tuple[FileChip, ...] = ()
    state: str | None = None
    state_text: str = ""
    details: tuple[str, ...] = ()


def route_word(words: Words, route: str) -> str:
    return (
        words.t(f"route.{route}") if words.has(f"console.route.{route}") else words.t("route.other")
    )


def file_chip(words: Words, chat_id: int, found: ChatFile) -> FileChip:
    media = found.media_type
    sort = "image" if media.startswith("image/") else "pdf" if "pdf" in media else "other"
    size = words.t("chats.size_kb", size=max(1, round(found.size / 1024)))
    label = words.t(f"chats.file_{sort}", size=size)
    if found.deleted:
        label = words.t("chats.file_deleted")
    href = f"/console/chats/{chat_id}/files/{found.id}"
    return FileChip(href, sort == "image" and not found.deleted, label, found.deleted)


def delivery(
    words: Words, message: ChatMessage, channel: Channel, now: datetime
) -> tuple[str, str, tuple[str, ...]]:
    """(state, words, what happened next) of a message from staff."""
    if message.delivery in FAILED:
        details = []
        if message.error:
            details.append(words.t("chats.failed_code", code=message.error))
        if message.rerouted == "nothing":
            details.append(words.t("chats.rerouted_nowhere"))
        elif message.rerouted:
            details.append(words.t("chats.rerouted_to", route=route_word(words, message.rerouted)))
        return "failed", words.t("chats.state_failed"), tuple(details)
    if message.delivery in ("delivered", "read"):
        return message.delivery, words.t(f"chats.state_{message.delivery}"), ()
    if message.sent:
        return "sent", words.t("chats.state_sent"), ()
    if message.refused:
        return "not_sent", words.t("chats.state_not_sent"), ()
    if channel in PULLED_CHANNELS:
        # The terminal has no push: it waits for the customer; not a failure.
        return "queued", words.t("queued_short"), ()
    if now - message.at < STILL_SENDING:
        return "sending", words.t("chats.state_sending"), ()
    return "not_sent", words.t("chats.state_not_sent"), ()


def bubbles(
    words: Words, chat_id: int, channel: Channel, messages: list[ChatMessage], now: datetime
) -> list[Bubble]:
    shown = []
    for m in messages:
        line = words.line(TranscriptLine(m.at, m.who, m.text, sealed=m.sealed))
        files = tuple(file_chip(words, chat_id, f) for f in m.files)
        text = line.text if line.text or not files else ""
        if line.kind == "staff" and m.kind == "out":
            state, said, details = delivery(words, m, channel, now)
            shown.append(Bubble(line.kind, line.author, line.at, text, files, state, said, details))
        else:
            shown.append(Bubble(line.kind, line.author, line.at, text, files))
    return shown
