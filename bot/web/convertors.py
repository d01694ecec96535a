"""The ``rowid`` path parameter of the console's and the API's routes.

Starlette keeps convertors in one global table, read when a route is built:
importing this module registers it, so every module building such routes
imports it first.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class RowId(Convertor[int]):
    """A database id in a path. Up to 18 digits, so always within SQLite's
    64-bit integers: a longer number matches no route (404) instead of
    failing in the database (500)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("rowid", RowId())
