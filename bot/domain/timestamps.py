"""Times as text: the one format stored and compared."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(value: datetime) -> str:
    """Always UTC, one format (ISO 8601), so stored times compare correctly as
    text and a time recorded twice (a queued code mail and the code it arms)
    reads the same both times."""
    return (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat()
