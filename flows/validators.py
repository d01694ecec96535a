"""Input checks for each dialogue step.

Each validator returns ``(value, None)`` or ``(None, hint_key)`` so that a
step can re-ask with a hint that names what was wrong. All of them are pure:
the email check uses ``email-validator`` without DNS.
"""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

NAME_MIN, NAME_MAX = 2, 100
REASON_MIN, REASON_MAX = 3, 500
VALUE_MIN, VALUE_MAX = 1, 500

# Format characters that may legitimately appear inside words (emoji
# sequences, Persian and Indic scripts); every other Cf character - bidi
# overrides above all - is dropped so text cannot disguise itself.
_KEPT_FORMAT_CHARS = {"\u200c", "\u200d"}
_NAME_PUNCTUATION = {" ", ".", "'", "-", "\u2019"}
_SPACES = re.compile(r"[ \t]+")

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_REFERENCE = re.compile(r"^(DEL|ACC|COR|RES)[-\s_]?([0-9A-Z]{6})$")
_REFERENCE_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])(DEL|ACC|COR|RES)([-\s_]?)([0-9A-Za-z]{6})(?![0-9A-Za-z])", re.IGNORECASE
)
_DIGITS = re.compile(r"\d")
CODE_MASK = "\u2022"


def clean_text(raw: str) -> str:
    """Normalise what a customer typed: NFC, no control or invisible format
    characters, trimmed, runs of spaces collapsed (line breaks kept)."""
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch == "\n" or (cat != "Cc" and (cat != "Cf" or ch in _KEPT_FORMAT_CHARS)):
            kept.append(ch)
        elif ch == "\t":
            kept.append(" ")
    lines = [_SPACES.sub(" ", line).strip() for line in "".join(kept).split("\n")]
    return "\n".join(line for line in lines if line).strip()


def normalise_command(text: str) -> str:
    """Lower-case form used to recognise commands and menu words."""
    lowered = unicodedata.normalize("NFKC", text).casefold()
    lowered = re.sub(r"[!?.,;:]+$", "", lowered.strip())
    return _SPACES.sub(" ", lowered.replace("\n", " ")).strip()


def validate_name(text: str) -> tuple[str | None, str | None]:
    name = _SPACES.sub(" ", text.replace("\n", " ")).strip()
    if len(name) < NAME_MIN:
        return None, "hint.name_short"
    if len(name) > NAME_MAX:
        return None, "hint.name_long"
    has_letter = False
    for ch in name:
        cat = unicodedata.category(ch)
        if cat.startswith("L"):
            has_letter = True
        elif not (cat.startswith("M") or ch in _NAME_PUNCTUATION):
            return None, "hint.name_chars"
    if not has_letter:
        return None, "hint.name_chars"
    return name, None


def validate_email_address(text: str) -> tuple[str | None, str | None]:
    candidate = text.strip()
    if " " in candidate or "\n" in candidate or len(candidate) > 254:
        return None, "hint.email"
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError:
        return None, "hint.email"
    return result.normalized, None


def validate_reason(text: str) -> tuple[str | None, str | None]:
    if len(text) < REASON_MIN:
        return None, "hint.reason_short"
    if len(text) > REASON_MAX:
        return None, "hint.reason_long"
    return text, None


def validate_value(text: str) -> tuple[str | None, str | None]:
    if len(text) < VALUE_MIN:
        return None, "hint.value_empty"
    if len(text) > VALUE_MAX:
        return None, "hint.value_long"
    return text, None


def parse_reference(text: str) -> str | None:
    """Recognise a request reference, forgiving case, a missing dash and the
    letters Crockford's base32 reads as digits (O as 0, I and L as 1)."""
    candidate = unicodedata.normalize("NFKC", text).strip().upper()
    match = _REFERENCE.match(candidate)
    if not match:
        return None
    suffix = match.group(2).translate(_CROCKFORD_ALIASES)
    if any(ch not in CROCKFORD_ALPHABET for ch in suffix):
        return None
    return f"{match.group(1)}-{suffix}"


def find_reference(text: str) -> str | None:
    """The one request reference written inside a longer message ("cek status
    del-7k3m9q"), None if there is none or more than one.

    Written without a separator, in lower case and without a digit, a word
    such as "corporate" would read as a reference: such a match is ignored.
    """
    found = set()
    for match in _REFERENCE_IN_TEXT.finditer(unicodedata.normalize("NFKC", text)):
        prefix, separator, suffix = match.groups()
        written = prefix + suffix
        if separator or written.isupper() or any(ch.isdigit() for ch in suffix):
            reference = parse_reference(f"{prefix}-{suffix}")
            if reference:
                found.add(reference)
    return found.pop() if len(found) == 1 else None


def mask_digits(text: str) -> str:
    """A message typed at a code step as it may be kept: every digit masked.

    The code mail tells customers never to share the code with staff, so
    neither the transcript nor a copy of it may hold one, however it was typed
    ("482913", "482 913", "kode 482913"); words ("kirim ulang") stay readable.
    """
    return _DIGITS.sub(CODE_MASK, text)


def parse_choices(text: str, count: int) -> list[int] | None:
    """Numbers 1..count separated by commas, spaces or 'dan'/'and'; None if
    anything else is present."""
    tokens = [t for t in re.split(r"[\s,;/&+]+|\bdan\b|\band\b", text.casefold()) if t]
    if not tokens or not all(t.isdigit() for t in tokens):
        return None
    numbers = [int(t) for t in tokens]
    if any(n < 1 or n > count for n in numbers):
        return None
    return sorted(set(numbers))


# Content sniffing ------------------------------------------------------------

MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


def sniff_media_type(head: bytes) -> str | None:
    """Identify an accepted file type from its first bytes; names and declared
    types are never trusted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:1024].lstrip(b"\x00\t\n\r\x0c ").startswith(b"%PDF-"):
        return "application/pdf"
    return None
