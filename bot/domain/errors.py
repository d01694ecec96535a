"""What a refused act says: a catalogue key and the values that fill its text.

A use case that refuses (a move not possible from the request's status, an
empty reason, a chat someone else holds...) raises a ``Refused`` naming why
by key; it carries no sentence of its own. Each door words it for its reader:
the console in the staff member's language (``console.problem.<key>``), the
command line and the API in English (``refused.<key>``, filled with
``params``). So one refusal never reaches the Indonesian console in the
command line's English, and the wording lives in the catalogue, once.
"""

from __future__ import annotations

Param = str | int


class Refused(Exception):
    """``key`` names the text under ``refused`` (and ``console.problem``);
    ``params`` fill its placeholders. Parameters are plain strings and numbers
    (dates as YYYY-MM-DD), so the API can return them as JSON as they are."""

    def __init__(self, key: str, **params: Param) -> None:
        super().__init__(key, params)
        self.key = key
        self.params: dict[str, Param] = params

    def __str__(self) -> str:
        """For logs and tracebacks only: doors show the catalogue's text."""
        values = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.key} ({values})" if values else self.key
