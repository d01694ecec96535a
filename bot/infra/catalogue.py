"""The message catalogue: turns the dialogue's keys and parameters into text.

Texts live in ``config/messages/<lang>.toml`` and, for the staff console's
areas, ``config/messages/<lang>/<area>.toml`` (one file per area, so a key is
found where its page is; a key defined twice is an error). Nested tables flatten to dotted
keys; a table's own text sits under ``_`` so ``summary`` and ``summary.line``
can both exist. Dates are written with Babel in the reader's language
("8 Januari 2027"), times in the service's time zone.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from flows.types import Label, Reply, Seq
from flows.vocabulary import Vocabulary

LANGUAGES = ("id", "en")
_BABEL_LOCALES = {"id": "id_ID", "en": "en_GB"}
_ZONE_NAMES = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Ujung_Pandang": "WITA",
    "Asia/Jayapura": "WIT",
}


class CatalogueError(Exception):
    pass


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        full = prefix if key == "_" else (f"{prefix}.{key}" if prefix else key)
        if isinstance(value, dict):
            flat.update(_flatten(value, full))
        else:
            flat[full] = str(value).strip("\n")
    return flat


def _read_config(name: str) -> dict[str, Any]:
    return tomllib.loads(resources.files("config").joinpath(name).read_text("utf-8"))


def _read_language(lang: str) -> dict[str, str]:
    texts = _flatten(_read_config(f"messages/{lang}.toml"))
    folder = resources.files("config").joinpath(f"messages/{lang}")
    areas = sorted(f.name for f in folder.iterdir()) if folder.is_dir() else []
    for area in (name for name in areas if name.endswith(".toml")):
        more = _flatten(_read_config(f"messages/{lang}/{area}"))
        twice = sorted(set(more) & set(texts))
        if twice:
            raise CatalogueError(f"{lang}/{area} defines again: {', '.join(twice[:5])}")
        texts.update(more)
    return texts


def load_vocabulary() -> Vocabulary:
    return Vocabulary.from_mapping(_read_config("keywords.toml"))


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class _Filled(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "-"


class Catalogue:
    def __init__(self, texts: dict[str, dict[str, str]], timezone: str = "Asia/Jakarta") -> None:
        self.texts = texts
        self.zone = ZoneInfo(timezone)

    @classmethod
    def load(cls, timezone: str = "Asia/Jakarta") -> Catalogue:
        return cls({lang: _read_language(lang) for lang in LANGUAGES}, timezone)

    def text(self, language: str, key: str) -> str:
        table = self.texts.get(language) or self.texts["id"]
        try:
            return table[key]
        except KeyError:
            raise CatalogueError(f"no text for {key!r} in {language!r}") from None

    def render(self, language: str, reply: Reply, variant: str | None = None) -> str:
        """The text of ``reply``; a channel ``variant`` (e.g. ``sms``) uses its own
        shorter text where the catalogue has one."""
        table = self.texts.get(language) or self.texts["id"]
        key = f"{variant}.{reply.key}" if variant and f"{variant}.{reply.key}" in table else None
        template = table[key] if key else self.text(language, reply.key)
        values = {name: self._value(language, v, variant) for name, v in reply.params.items()}
        return template.format_map(values)

    def refusal(self, language: str, key: str, params: Mapping[str, object]) -> str:
        """Why an act was refused: ``refused.<key>`` with ``params`` filled in
        as they are. A placeholder without a value shows as "-", and a key
        without a text as the key: reporting a refusal must not fail itself."""
        table = self.texts.get(language) or self.texts["id"]
        template = table.get(f"refused.{key}")
        return template.format_map(_Filled(params)) if template else key

    def label(self, language: str, label: Label | str) -> str:
        return self.text(language, label.key) if isinstance(label, Label) else label

    def _value(self, language: str, value: Any, variant: str | None = None) -> str:
        if value is None:
            return "-"
        if isinstance(value, Label):
            return self.text(language, value.key)
        if isinstance(value, Reply):
            return self.render(language, value, variant)
        if isinstance(value, Seq):
            return value.sep.join(self._value(language, v, variant) for v in value.items)
        if isinstance(value, datetime):
            local = value.astimezone(self.zone)
            # "Senin, 30 November 2026 09.00 WIB" / "Monday 30 November 2026, 09:00 WIB"
            written = format_datetime(
                local,
                "EEEE, d MMMM y HH.mm" if language == "id" else "EEEE d MMMM y, HH:mm",
                locale=_BABEL_LOCALES.get(language, "id_ID"),
            )
            return f"{written} {self._zone_name(local)}"
        if isinstance(value, date):
            return format_date(value, format="long", locale=_BABEL_LOCALES.get(language, "id_ID"))
        return str(value)

    def _zone_name(self, local: datetime) -> str:
        """The zone as people say it, the same in both languages: Babel's
        English has no name for Indonesia's zones and writes "GMT+07:00"."""
        name = _ZONE_NAMES.get(self.zone.key)
        if name:
            return name
        abbreviation = local.tzname() or ""
        if abbreviation.isalpha():  # "CET", "GMT", "EST"; not "+08"
            return abbreviation
        return format_datetime(local, "ZZZZ", locale="en_GB")  # "GMT+08:00"
