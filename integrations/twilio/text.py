"""Fitting replies into SMS segments and WhatsApp bodies.

An SMS is GSM-7 when every character is in the GSM 03.38 alphabet (the
extension characters such as ``€ { } [ ]`` take two septets) and UCS-2
otherwise (characters outside the Basic Multilingual Plane, e.g. emoji, take
two code units). One segment holds 160 septets or 70 code units; a
concatenated message 153 or 67 per segment, and a character is never split
across segments. The codec is the ``gsm0338`` package's.
"""

from __future__ import annotations

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec

SMS_MAX_SEGMENTS = 3
WHATSAPP_MAX_CHARS = 1600
_SINGLE = {"gsm": 160, "ucs2": 70}
_MULTI = {"gsm": 153, "ucs2": 67}


def encoding(text: str) -> str:
    try:
        text.encode("gsm03.38")
    except UnicodeEncodeError:
        return "ucs2"
    return "gsm"


def _units(ch: str, kind: str) -> int:
    if kind == "gsm":
        return len(ch.encode("gsm03.38"))
    return 2 if ord(ch) > 0xFFFF else 1


def segments(text: str) -> int:
    """How many SMS segments ``text`` takes."""
    if not text:
        return 1
    kind = encoding(text)
    total = sum(_units(ch, kind) for ch in text)
    if total <= _SINGLE[kind]:
        return 1
    count, used = 1, 0
    for ch in text:
        size = _units(ch, kind)
        if used + size > _MULTI[kind]:
            count, used = count + 1, 0
        used += size
    return count


def fits_sms(text: str) -> bool:
    return segments(text) <= SMS_MAX_SEGMENTS


def fits_whatsapp(text: str) -> bool:
    return len(text) <= WHATSAPP_MAX_CHARS
