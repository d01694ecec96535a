"""What staff read for the values the console shows, in their language.

The store keeps codes (statuses, event kinds, slot names, actors such as
``staff:ani@...``, chat events such as ``transfer -> budi@...``); staff should
read words. Every word here comes from the catalogue (``console.*`` and the
dialogue's own labels), so a page never shows a key, ``None``, ``True`` or an
English sentence in the Indonesian console. A value the console has no words
for is left out rather than shown raw: the tests render every page in both
languages to keep it that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime

from bot.domain.models import RequestEvent, TranscriptLine
from bot.infra.catalogue import Catalogue

_LOCALES = {"id": "id_ID", "en": "en_GB"}
# Dates written recently, per language: a queue page writes a hundred, mostly
# the same few days, and a chat the same moments on every refresh; Babel
# would look the locale up and format each one again (most of a page's time).
_WRITTEN = 4096


@lru_cache(maxsize=8)
def _locale(lang: str) -> Locale:
    return Locale.parse(_LOCALES.get(lang, "id_ID"))


@lru_cache(maxsize=_WRITTEN)
def _long_date(value: date, lang: str) -> str:
    return format_date(value, format="long", locale=_locale(lang))


@lru_cache(maxsize=_WRITTEN)
def _moment(value: datetime, zone: ZoneInfo, lang: str) -> str:
    # An aware moment hashes and compares as the instant it is: the same
    # instant, whatever its offset, is written alike in ``zone``.
    pattern = "d MMM y HH.mm" if lang == "id" else "d MMM y, HH:mm"
    return format_datetime(value.astimezone(zone), pattern, locale=_locale(lang))


# Status -> the badge's look: waiting for the customer, for staff, done, ended.
_STATUS_LOOK = {
    "awaiting_id_proof": "warn",
    "needs_info": "warn",
    "verifying": "info",
    "info_received": "info",  # the customer answered: staff's turn
    "in_progress": "info",
    "completed": "success",
}
# Slot or detail -> the catalogue table naming its values.
_CHOICES = {
    "reason_code": "choice.deletion_reason",
    "correction_field": "choice.correction_field",
    "restriction_scope": "choice.restriction_scope",
    "type": "console.kind",
}
# The dialogue's own bookkeeping: nothing a person needs to read.
_HIDDEN_SLOTS = {"proof_token"}


@dataclass(frozen=True)
class Line:
    """One transcript line as shown: ``kind`` is customer, bot, staff, note or
    event; ``text`` is None for a sealed message (the page says why)."""

    kind: str
    author: str
    at: str
    text: str | None
    problem: bool


@dataclass(frozen=True)
class Event:
    """One step of a request's history: when, who, what, and its particulars."""

    at: str
    actor: str
    what: str
    details: tuple[str, ...]


def _enum_value(value: Any) -> str:
    return value.value if isinstance(value, Enum) else str(value)


class Words:
    """The reader's words for one page: ``lang`` is the staff member's language."""

    def __init__(self, catalogue: Catalogue, zone: ZoneInfo, lang: str) -> None:
        self.catalogue = catalogue
        self.zone = zone
        self.lang = lang
        self._table = catalogue.texts.get(lang) or catalogue.texts["id"]

    # -- texts ---------------------------------------------------------------
    def t(self, key: str, **params: Any) -> str:
        """A console text (``console.<key>``), filled with ``params``."""
        text = self.catalogue.text(self.lang, f"console.{key}")
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self._table

    def _label(self, key: str) -> str | None:
        return self._table.get(key)

    # -- dates ---------------------------------------------------------------
    def date(self, value: date) -> str:
        """A date as people write it: "15 Januari 2027", "15 January 2027"."""
        if type(value) is not date:  # a datetime is a date too: never cached as one
            return format_date(value, format="long", locale=_locale(self.lang))
        return _long_date(value, self.lang)

    def when(self, value: datetime) -> str:
        """A moment in the service's time zone: "26 Nov 2026 10.00"."""
        return _moment(value, self.zone, self.lang)

    def waited(self, minutes: int) -> str:
        return self.t("waited", hours=minutes // 60, minutes=minutes % 60)

    # -- codes to words ------------------------------------------------------
    def state(self, status: Any) -> str:
        return self.t(f"state.{_enum_value(status)}")

    def look(self, status: Any) -> str:
        """The badge style of a status (a word is always shown with it)."""
        return _STATUS_LOOK.get(_enum_value(status), "neutral")

    def kind(self, rtype: Any) -> str:
        return self.t(f"kind.{_enum_value(rtype)}")

    def channel(self, channel: Any) -> str:
        return self.catalogue.text(self.lang, f"channel.{_enum_value(channel)}")

    def language(self, code: str) -> str:
        return self._label(f"console.lang_name.{code}") or self.t("lang_name.other")

    def role(self, role: str) -> str:
        return self._label(f"console.role.{role}") or self.t("role.other")

    def escalation(self, reason: str | None) -> str:
        return (self._label(f"console.reason_{reason}") or "") if reason else ""

    def actor(self, actor: str, reader: str | None = None) -> str:
        """Who did it: a staff member by email ("You" for ``reader``, the
        staff member reading), the customer, the system, the command line, a
        back-office API client by its token's name."""
        kind, _, who = actor.partition(":")
        if who and kind in ("staff", "note", "event"):
            return self.t("request.you", email=who) if reader and who == reader else who
        if who and kind == "api":
            return self.t("actor.api", name=who)
        return self._label(f"console.actor.{actor}") or actor

    def yes_no(self, value: bool) -> str:
        return self.t("yes" if value else "no")

    # -- a request's free-form details and a chat's draft --------------------
    def value(self, key: str, value: Any) -> str | None:
        """A slot's or a detail's value in words; None when there is nothing to say."""
        if value is None or value == "" or value == [] or key in _HIDDEN_SLOTS:
            return None
        if isinstance(value, bool):
            return self.yes_no(value)
        if isinstance(value, Mapping):  # a file: say what kind, never show it here
            media = str(value.get("media_type", ""))
            sort = "image" if media.startswith("image/") else "pdf" if "pdf" in media else "other"
            return self.t(f"file.{sort}")
        table = _CHOICES.get(key)
        items = value if isinstance(value, list | tuple) else [value]
        words = []
        for item in items:
            label = self._label(f"{table}.{item}") if table else None
            words.append(label if label is not None else str(item))
        return ", ".join(words)

    def facts(self, data: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(label, value) for each known slot or detail with something to say."""
        shown = []
        for key, raw in data.items():
            label = self._label(f"console.detail.{key}")
            value = self.value(key, raw)
            if label is not None and value is not None and not key.startswith("_"):
                shown.append((label, value))
        return shown

    # -- a request's history -------------------------------------------------
    def event(self, event: RequestEvent, reader: str | None = None) -> Event:
        data, kind = event.data, event.kind
        what = self._label(f"console.event.{kind}") or self.t("event.other")
        details: list[str] = []
        if kind == "id_proof_viewed":
            details.extend(self._proof_view(data))  # which file first, then why
        if kind == "filed" and data.get("status"):
            details.append(self.t("detail_text.first_status", status=self.state(data["status"])))
        if data.get("email_verified"):
            details.append(self.t("detail_text.email_verified"))
        if data.get("from") and data.get("to"):
            old, new = self.state(data["from"]), self.state(data["to"])
            details.append(self.t("detail_text.moved", old=old, new=new))
        if data.get("reason"):
            details.append(self.t("detail_text.reason", reason=data["reason"]))
        if data.get("message"):
            details.append(self.t("detail_text.message", message=data["message"]))
        if data.get("until"):
            details.append(self._new_date(data))
        if data.get("text"):
            details.append(self.t("detail_text.answer", text=data["text"]))
        if data.get("file"):
            details.append(self.t("detail_text.file"))
        if kind in ("notification_failed", "notification_retried") and data.get("kind"):
            notice = self._label(f"console.notice_kind.{data['kind']}") or self.t(
                "notice_kind.other"
            )
            channel = self.notice_channel(str(data.get("channel")))
            details.append(self.t("detail_text.notice", notice=notice, channel=channel))
        if data.get("retention_days"):
            details.append(self.t("detail_text.retention", days=data["retention_days"]))
        return Event(self.when(event.at), self.actor(event.actor, reader), what, tuple(details))

    def _proof_view(self, data: Mapping[str, Any]) -> list[str]:
        """Which file was opened and why (the reason already shown above, if typed)."""
        shown = [self.t("request.detail_text.proof_file", number=data.get("proof", "?"))]
        reason = str(data.get("reason_code") or "")
        if self.has(f"console.request.view_reason.{reason}"):
            shown.append(
                self.t("detail_text.reason", reason=self.t(f"request.view_reason.{reason}"))
            )
        return shown

    def notice_channel(self, channel: str) -> str:
        """A notification's route in words: a chat channel or email."""
        return (
            self._label(f"channel.{channel}")
            or self._label(f"console.route.{channel}")
            or self.t("route.other")
        )

    def _new_date(self, data: Mapping[str, Any]) -> str:
        def written(raw: Any) -> str:
            try:
                return self.date(date.fromisoformat(str(raw)))
            except ValueError:
                return str(raw)

        return self.t(
            "detail_text.new_date",
            until=written(data["until"]),
            previous=written(data.get("previous_due_date", "")),
        )

    # -- a chat --------------------------------------------------------------
    def line(self, line: TranscriptLine) -> Line:
        kind, _, author = line.who.partition(":")
        at = self.when(line.at)
        text = None if line.sealed else line.text
        if kind == "event":
            return Line("event", author, at, self.chat_event(author, line.text), False)
        if kind == "note":
            return Line("note", author, at, text, False)
        if kind == "staff":
            return Line("staff", author or self.t("who.staff"), at, text, line.problem)
        if kind == "bot":
            return Line("bot", self.t("who.bot"), at, text, False)
        return Line("customer", self.t("who.customer"), at, text, False)

    def chat_event(self, actor: str, text: str) -> str:
        """What a staff member did in a chat, from the stored ``kind detail``."""
        kind, _, detail = text.partition(" ")
        other = detail.removeprefix("<- ").removeprefix("-> ")
        if kind == "outside_window":
            other = self._route(detail.rpartition(" -> ")[2])
        elif kind == "undelivered":
            other = self._route(detail.rpartition(" ")[2])
        elif kind == "rerouted":
            taken = detail.rpartition(" -> ")[2]
            if taken == "nothing":
                kind = "rerouted_nowhere"
            other = self._route(taken)
        template = self._label(f"console.chat_event.{kind}")
        if template is None:
            return self.t("chat_event.other", actor=actor)
        return template.format(actor=actor, other=other)

    def _route(self, route: str) -> str:
        return self._label(f"console.route.{route}") or self.t("route.other")

    # -- staff accounts and settings -----------------------------------------
    def audit(self, action: str) -> str:
        """An account change in words; ``add:agent`` names the role it was given."""
        kind, _, role = action.partition(":")
        if kind == "add":
            return self.t("audit.add", role=self.role(role))
        return self._label(f"console.audit.{kind}") or self.t("audit.other")

    def setting(self, value: str) -> str:
        """A setting's value as configured; secrets only as set or not."""
        if value == "(set)":
            return self.t("setting.set")
        if value in ("(not set)", "", "None"):
            return self.t("setting.unset")
        if value in ("True", "False"):
            return self.yes_no(value == "True")
        return value
