"""Fitting replies into a channel's message size: fewest messages, clean breaks.

Channels differ only in what fits (SMS segments, WhatsApp's 1,600 characters,
Telegram's 4,096); the packing is the same. Replies are joined with a blank
line while they fit; a reply too long on its own is split at paragraph
breaks, then line breaks, then spaces, and only as a last resort inside a word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Fits = Callable[[str], bool]
_SEPARATORS = ("\n\n", "\n", " ")


@dataclass
class Body:
    """One message to send, and the replies (by index) whose text it carries."""

    text: str
    replies: list[int] = field(default_factory=list)


def split(text: str, fits: Fits, separators: Sequence[str] = _SEPARATORS) -> list[str]:
    if fits(text):
        return [text]
    if not separators:
        pieces: list[str] = []
        current = ""
        for ch in text:
            if current and not fits(current + ch):
                pieces.append(current)
                current = ch
            else:
                current += ch
        return [*pieces, current] if current else pieces
    sep, deeper = separators[0], separators[1:]
    merged: list[str] = []
    for part in text.split(sep):
        if not part.strip():
            continue
        for piece in split(part, fits, deeper):
            if merged and fits(merged[-1] + sep + piece):
                merged[-1] += sep + piece
            else:
                merged.append(piece)
    return merged


def pack(texts: Sequence[str], fits: Fits) -> list[Body]:
    bodies: list[Body] = []
    for index, text in enumerate(texts):
        for piece in split(text.strip(), fits):
            last = bodies[-1] if bodies else None
            if last is not None and fits(last.text + "\n\n" + piece):
                last.text += "\n\n" + piece
                if index not in last.replies:
                    last.replies.append(index)
            else:
                bodies.append(Body(piece, [index]))
    return bodies


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
