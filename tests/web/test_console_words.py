"""The console's words for stored codes: every request event, chat event,
account change, slot and setting the product writes reads as words in both
languages, never as a key or a Python value (bot/web/console/words.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.models import RequestEvent, TranscriptLine
from bot.infra.catalogue import Catalogue
from bot.requests.lifecycle import MOVES
from bot.web.console.words import Words
from tests.web.console_html import unreadable

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _source(*tops: str) -> str:
    return "\n".join(p.read_text() for top in tops for p in (ROOT / top).rglob("*.py"))


def _words(catalogue: Catalogue, lang: str) -> Words:
    return Words(catalogue, ZoneInfo("Asia/Jakarta"), lang)


def test_every_event_kind_the_code_writes_has_words(catalogue: Catalogue) -> None:
    source = _source("bot")
    request_kinds = set(re.findall(r'add_request_event\(\s*[^,]+,\s*[^,]+,\s*"([a-z_]+)"', source))
    request_kinds |= set(MOVES)  # lifecycle moves record their action as the kind
    chat_kinds = set(re.findall(r'add_chat_event\(\s*[^,]+,\s*[^,]+,\s*"([a-z_]+)"', source))
    chat_kinds |= {"claim", "take_over"}  # chosen by an expression in bot.staff.chats
    assert {"filed", "notification_failed", "customer_forgotten"} <= request_kinds
    assert {"transfer", "release", "outside_window"} <= chat_kinds
    for lang in ("id", "en"):
        texts = catalogue.texts[lang]
        for kind in request_kinds:
            assert f"console.event.{kind}" in texts, kind
        for kind in chat_kinds:
            assert f"console.chat_event.{kind}" in texts, kind


def test_every_slot_the_dialogue_fills_has_a_label(catalogue: Catalogue) -> None:
    source = _source("flows")
    slots = set(re.findall(r'slots\["([a-z][a-z_]*)"\]\s*=', source))
    slots |= set(re.findall(r'store\(run, "([a-z][a-z_]*)"', source))
    slots |= {"type", "name_mismatch"}  # set at a draft's start; added when filing
    assert {"full_name", "email", "reason_code", "restriction_scope"} <= slots
    hidden = {"proof_token"}  # the dialogue's own bookkeeping
    for lang in ("id", "en"):
        for slot in slots - hidden:
            assert f"console.detail.{slot}" in catalogue.texts[lang], slot


EVENTS = [
    RequestEvent(AT, "customer", "filed", {"status": "verifying", "email_verified": True}),
    RequestEvent(AT, "system", "name_mismatch", {}),
    RequestEvent(AT, "customer", "id_proof_received", {}),
    RequestEvent(AT, "customer", "info_provided", {"text": "Ini KTP saya"}),
    RequestEvent(AT, "customer", "info_provided", {"file": True}),
    RequestEvent(
        AT, "staff:ani@jovapos.test", "verify", {"from": "verifying", "to": "in_progress"}
    ),
    RequestEvent(
        AT, "api:backoffice", "ask", {"from": "verifying", "to": "needs_info", "message": "x"}
    ),
    RequestEvent(AT, "staff:ani", "reject", {"from": "verifying", "to": "rejected", "reason": "x"}),
    RequestEvent(
        AT,
        "staff:ani",
        "delay",
        {
            "from": "in_progress",
            "reason": "Arsip",
            "until": "2027-11-26",
            "previous_due_date": "2027-01-12",
        },
    ),
    RequestEvent(AT, "staff:ani", "complete", {"from": "in_progress", "to": "completed"}),
    RequestEvent(AT, "customer", "cancel", {"from": "verifying", "to": "cancelled"}),
    RequestEvent(
        AT,
        "system",
        "notification_failed",
        {"kind": "needs_info", "channel": "sms", "error": "Boom"},
    ),
    RequestEvent(AT, "customer", "downloaded", {"size": 12345}),
    RequestEvent(AT, "system", "id_proof_deleted", {"retention_days": 30}),
    RequestEvent(AT, "system", "customer_forgotten", {}),
    RequestEvent(
        AT, "staff:ani", "id_proof_viewed", {"proof": 1, "reason_code": "audit", "via": "console"}
    ),
    RequestEvent(AT, "cli", "id_proof_viewed", {"proof": 2, "reason": "Polisi", "via": "cli"}),
    RequestEvent(
        AT, "staff:ani", "notification_retried", {"kind": "completed", "channel": "email"}
    ),
    RequestEvent(AT, "system", "something_new", {"odd": None, "flag": False}),
]
LINES = [
    TranscriptLine(AT, "customer", "Halo"),
    TranscriptLine(AT, "bot", "Halo juga"),
    TranscriptLine(AT, "staff", "Staf bergabung"),
    TranscriptLine(AT, "staff:ani@jovapos.test", "Baik", problem=True),
    TranscriptLine(AT, "staff:ani@jovapos.test", "sealed", sealed=True),
    TranscriptLine(AT, "note:ani@jovapos.test", "Catatan"),
    *(
        TranscriptLine(AT, "event:ani@jovapos.test", text)
        for text in (
            "claim",
            "take_over <- budi@jovapos.test",
            "transfer -> budi@jovapos.test",
            "release",
            "returned_to_queue budi@jovapos.test",
            "outside_window staff.reply -> whatsapp_template",
            "undelivered 12 whatsapp",
            "rerouted 12 -> sms",
            "rerouted 12 -> nothing",
            "something_new 1 2",
        )
    ),
]
SLOTS = {
    "type": "restriction",
    "_started": "2026-11-26T03:00:00+00:00",
    "full_name": "Siti Aminah",
    "email": "siti@example.com",
    "email_verified": "siti@example.com",
    "reason": None,
    "reason_code": "switching",
    "reason_skipped": True,
    "correction_field": "phone",
    "restriction_scope": ["promotions", "analytics"],
    "restriction_other": None,
    "id_proof": {"token": "t", "media_type": "image/png", "size": 9, "sha256": "x"},
    "id_later": False,
    "proof_token": "secret-token",
    "name_mismatch": True,
    "no_label_for_this": "raw",
}
ACCOUNT_CHANGES = [
    "add:agent",
    "add:admin",
    "disable",
    "enable",
    "reset_password",
    "make_admin",
    "make_agent",
    "delete",
]


@pytest.mark.parametrize("lang", ["id", "en"])
def test_stored_codes_read_as_words(catalogue: Catalogue, lang: str) -> None:
    words = _words(catalogue, lang)
    shown: list[str] = []
    for event in EVENTS:
        seen = words.event(event)
        shown += [seen.at, seen.actor, seen.what, *seen.details]
    for line in LINES:
        seen_line = words.line(line)
        shown += [seen_line.author, seen_line.at, seen_line.text or ""]
    for label, value in words.facts(SLOTS):
        shown += [label, value]
    shown += [words.audit(a) for a in ACCOUNT_CHANGES]
    shown += [words.actor(a) for a in ("cli", "system", "customer", "api:backoffice")]
    shown += [words.role(r) for r in ("agent", "admin", "owner")]
    shown += [words.language(c) for c in ("id", "en", "fr")]
    shown += [words.setting(v) for v in ("(set)", "(not set)", "", "None", "True", "False")]
    assert unreadable([s for s in shown if s], lang, catalogue) == []
    assert "secret-token" not in shown and "raw" not in shown  # bookkeeping stays out
    assert not any("Boom" in s for s in shown)  # an exception's name is no reason to read


def test_the_reader_reads_their_own_acts_as_theirs(catalogue: Catalogue) -> None:
    """History for ani: her acts say "You (ani@...)", a colleague's their email,
    and a proof's look names the file and the reason from the list in words."""
    for lang, you, file, audit, notice in (
        (
            "id",
            "Anda (ani)",
            "berkas 1",
            "Audit kepatuhan",
            "Pemberitahuan penyelesaian lewat email",
        ),
        ("en", "You (ani)", "file 1", "Compliance audit", "The completion notification by email"),
    ):
        words = _words(catalogue, lang)
        viewed, typed, retried = (words.event(e, reader="ani") for e in EVENTS[-4:-1])
        assert viewed.actor == you and words.event(EVENTS[5], reader="ani").actor != you
        assert any(file in d for d in viewed.details), viewed.details
        assert any(audit in d for d in viewed.details), viewed.details
        assert any("Polisi" in d for d in typed.details) and typed.actor != you
        assert retried.what == catalogue.text(lang, "console.event.notification_retried")
        assert any(notice.lower() in d.lower() for d in retried.details), retried.details


def test_dates_and_particulars_in_the_readers_words(catalogue: Catalogue) -> None:
    indonesian, english = _words(catalogue, "id"), _words(catalogue, "en")
    assert indonesian.date(date(2027, 1, 15)) == "15 Januari 2027"
    assert english.date(date(2027, 1, 15)) == "15 January 2027"
    assert indonesian.when(AT) == "26 Nov 2026 10.00"  # the service's zone, WIB
    delay = indonesian.event(EVENTS[8])
    assert delay.actor == "ani" and "26 November 2027" in delay.details[-1]
    assert "12 Januari 2027" in delay.details[-1]
    assert indonesian.event(EVENTS[6]).actor == "API back office (backoffice)"
    assert dict(indonesian.facts(SLOTS))["Pemrosesan yang dibatasi"] == (
        "Promosi dan penawaran khusus, Analisis dan riset"
    )
    assert dict(english.facts(SLOTS))["ID proof"] == "Image attached"
    transfer = indonesian.line(LINES[8])
    assert transfer.kind == "event" and transfer.text == (
        "ani@jovapos.test mengalihkan percakapan ke budi@jovapos.test"
    )
    assert indonesian.line(LINES[4]).text is None  # sealed: the page says why


def test_the_check_finds_what_the_issue_saw(catalogue: Catalogue) -> None:
    """The check the page tests rely on catches what the console once showed."""
    seen_before = [
        "Alasan: None",
        "reason_code: switching",
        "status: verifying; email_verified: True",
        "event:admin@localhost",
        "claim",
        "agent",
        "telegram",
        "in_progress",
        "console.state.open",
        "Take over",
        "Reply sent by Telegram.",
    ]
    for text in seen_before:
        assert unreadable([text], "id", catalogue), text
    fine = ["Email", "SMS", "Telegram", "English", "Siti Aminah", "siti_aminah@example.com"]
    assert unreadable([*fine, "Antrean permintaan", "–", "RES-ZVAC3S"], "id", catalogue) == []
    assert unreadable(["Antrean permintaan"], "en", catalogue)
