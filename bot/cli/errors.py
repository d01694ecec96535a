"""What every command reports: one line on stderr, never a traceback."""

from __future__ import annotations

PROG = "privacybot"


class CliError(Exception):
    """A problem to report to the user in one line."""
