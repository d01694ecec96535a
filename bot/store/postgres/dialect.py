"""The shared SQL (``bot.store.sql``), as PostgreSQL and psycopg take it.

The aggregates' statements are written once, in the SQL both databases
speak; what differs is mechanical and done here, once per statement text
(cached): ``?`` and ``:name`` parameters become psycopg's ``%s`` and
``%(name)s`` (a literal ``%`` doubled), and three SQLite functions take
their PostgreSQL names: ``instr`` -> ``strpos`` (same arguments, same
1-based answer), ``group_concat(x, sep)`` -> ``string_agg``, and
``json_extract(column, '$.key')`` -> ``(column::jsonb ->> 'key')``; SQLite's
planner hint ``NOT INDEXED`` goes. String literals are left alone. Anything
else SQLite-only is not translated: it fails on PostgreSQL, which the
suite's PostgreSQL run catches.
"""

from __future__ import annotations

import re
from functools import lru_cache

_LITERAL = re.compile(r"('(?:[^']|'')*')")
_JSON_KEY = re.compile(r"json_extract\(([\w.]+), '\$\.(\w+)'\)")
_NAMED = re.compile(r"(?<![:\w]):(\w+)")
_RENAMES = (
    (re.compile(r"\binstr\("), "strpos("),
    (re.compile(r"\bgroup_concat\("), "string_agg("),
    (re.compile(r" NOT INDEXED\b"), ""),  # a hint to SQLite's planner
)


@lru_cache(maxsize=4096)
def postgres_sql(sql: str) -> str:
    sql = _JSON_KEY.sub(r"(\1::jsonb ->> '\2')", sql)
    parts = _LITERAL.split(sql)
    for i, part in enumerate(parts):
        part = part.replace("%", "%%")
        if i % 2 == 0:  # outside string literals
            part = part.replace("?", "%s")
            part = _NAMED.sub(r"%(\1)s", part)
            for pattern, name in _RENAMES:
                part = pattern.sub(name, part)
        parts[i] = part
    return "".join(parts)
