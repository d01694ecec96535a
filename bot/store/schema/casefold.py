"""PostgreSQL's ``casefold(text)``: Python's ``str.casefold``, in SQL.

On SQLite the store registers Python's own function on each connection.
PostgreSQL's ``lower()`` neither folds "ß" to "ss" nor (under the "C"
collation, or a database made with it) anything beyond ASCII, so the
function is generated from Python's Unicode tables: each of the ~100
characters that fold to several goes through a ``replace``, then every
character whose fold is one character through one ``translate``. ASCII text
(most of it) takes ``lower()`` alone. Folding is per character, so the
result is Python's (a test compares them over every character).
"""

from __future__ import annotations

import sys


def _folds() -> tuple[str, str, list[tuple[str, str]]]:
    source, target, several = [], [], []
    for point in range(sys.maxunicode + 1):
        if 0xD800 <= point <= 0xDFFF:
            continue
        char = chr(point)
        folded = char.casefold()
        if folded == char:
            continue
        if len(folded) == 1:
            source.append(char)
            target.append(folded)
        else:
            several.append((char, folded))
    return "".join(source), "".join(target), several


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def function_sql() -> str:
    """``CREATE OR REPLACE FUNCTION casefold(text)``."""
    source, target, several = _folds()
    expression = "$1"
    for char, folded in several:
        expression = f"replace({expression}, {_literal(char)}, {_literal(folded)})"
    expression = f"translate({expression}, {_literal(source)}, {_literal(target)})"
    return (
        "CREATE OR REPLACE FUNCTION casefold(TEXT) RETURNS TEXT "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
        f"SELECT CASE WHEN octet_length($1) = length($1) THEN lower($1) ELSE {expression} END "
        "$$"
    )
