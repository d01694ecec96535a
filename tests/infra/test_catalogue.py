"""Both languages carry every text, with the same placeholders, and every key
the dialogue can produce exists."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.infra.catalogue import Catalogue, placeholders
from flows.types import Label, Reply, Seq

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

ROOT = Path(__file__).resolve().parents[2]


def test_languages_have_the_same_keys_and_placeholders(catalogue: Catalogue) -> None:
    id_texts, en_texts = catalogue.texts["id"], catalogue.texts["en"]
    assert set(id_texts) == set(en_texts)
    for key in id_texts:
        assert placeholders(id_texts[key]) == placeholders(en_texts[key]), key
        assert id_texts[key].strip(), key


def test_sms_variants_replace_existing_texts(catalogue: Catalogue) -> None:
    texts = catalogue.texts["id"]
    variants = [k for k in texts if k.startswith("sms.")]
    assert variants
    for key in variants:
        base = key.removeprefix("sms.")
        assert base in texts, key
        # Only the upload link may be added: SMS cannot carry the file itself.
        assert placeholders(texts[key]) <= placeholders(texts[base]) | {"upload_url", "hours"}


def test_every_key_in_the_code_exists(catalogue: Catalogue) -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "flows").glob("*.py"))
    literal = set(
        re.findall(
            r'"((?:hint|prompt|menu|help|staff|draft|proof|filed|status|'
            r'cancel|lang|error|file|summary|intro|list|type)\.[a-z_.]+)"',
            source,
        )
    )
    assert literal, "the pattern should find keys"
    for key in literal:
        assert key in catalogue.texts["id"], key


def _refusals() -> dict[str, set[str]]:
    """Every key a refusal names in the product's code, with the parameters
    given where it is raised: read from the source, so that a new refusal
    cannot ship without its words."""
    sources = [ast.parse(p.read_text()) for p in (ROOT / "bot").rglob("*.py")]
    kinds = {"Refused"}
    grew = True
    while grew:  # Refused's subclasses, and theirs
        found = {
            node.name
            for tree in sources
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and {b.id for b in node.bases if isinstance(b, ast.Name)} & kinds
        }
        grew = not found <= kinds
        kinds |= found
    keys: dict[str, set[str]] = {}
    for tree in sources:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            first = node.args[0]
            # Raised by name, or named by a subclass's super().__init__("key", ...).
            named = name in kinds or (
                name == "__init__"
                and isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Call)
                and getattr(func.value.func, "id", "") == "super"
            )
            if named and isinstance(first, ast.Constant) and isinstance(first.value, str):
                given = {kw.arg for kw in node.keywords if kw.arg}
                keys.setdefault(first.value, set()).update(given)
    return keys


def test_every_refusal_is_worded_for_every_door(catalogue: Catalogue) -> None:
    """The command line and the API word a refusal with ``refused.<key>``, its
    placeholders filled from the refusal's parameters; the console with
    ``console.problem.<key>``. Both exist for every key raised, in both
    languages (see above), and ``refused`` holds nothing else."""
    texts = catalogue.texts["en"]
    raised = _refusals()
    assert {"not_possible", "reason_missing", "until_range", "no_request", "held_by_other"} <= set(
        raised
    )
    for key, given in raised.items():
        assert placeholders(texts[f"refused.{key}"]) <= given, key
        assert placeholders(texts[f"console.problem.{key}"]) <= given, key
    assert {k.removeprefix("refused.") for k in texts if k.startswith("refused.")} == set(raised)
    assert catalogue.refusal("en", "until_range", {"until": "2030-01-01"}).startswith(
        "the new date 2030-01-01 must be between today (-)"
    )
    assert catalogue.refusal("id", "no_such_key", {}) == "no_such_key"


def test_dates_are_written_in_the_readers_language(catalogue: Catalogue) -> None:
    reply = Reply(
        "status.answer",
        {
            "reference": "DEL-7K3M9Q",
            "type": Label("type.deletion"),
            "status": Label("request_status.verifying"),
            "due_date": date(2027, 1, 8),
        },
    )
    assert "8 Januari 2027" in catalogue.render("id", reply)
    assert "8 January 2027" in catalogue.render("en", reply)


def test_customer_text_is_never_reinterpreted_as_a_template(catalogue: Catalogue) -> None:
    line = Reply("summary.line", {"label": Label("field.reason"), "value": "{reference} {0}"})
    assert catalogue.render("id", line) == "- Alasan: {reference} {0}"


def test_sequences_join(catalogue: Catalogue) -> None:
    value = Seq((Label("choice.restriction_scope.promotions"), "lain"), ", ")
    line = Reply("summary.line", {"label": Label("field.restriction_scope"), "value": value})
    assert catalogue.render("en", line).endswith("Promotions and special offers, lain")


@pytest.mark.parametrize(
    ("zone", "name", "id_time", "en_time"),
    [
        ("Asia/Jakarta", "WIB", "09.00", "09:00"),
        ("Asia/Makassar", "WITA", "10.00", "10:00"),
        ("Asia/Jayapura", "WIT", "11.00", "11:00"),
    ],
)
def test_times_name_indonesias_zones_in_both_languages(
    zone: str, name: str, id_time: str, en_time: str
) -> None:
    catalogue = Catalogue.load(zone)
    opens = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # a Monday morning
    reply = Reply("staff.after_hours", {"opens": opens})
    assert catalogue.render("id", reply).endswith(
        f"mulai Senin, 30 November 2026 {id_time} {name}."
    )
    assert catalogue.render("en", reply).endswith(
        f"from Monday 30 November 2026, {en_time} {name}."
    )
    assert "GMT" not in catalogue.render("en", reply)


def test_times_in_other_zones_carry_a_sensible_name() -> None:
    opens = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    for zone, name in (("Europe/Berlin", "CET"), ("Asia/Singapore", "GMT+08:00"), ("UTC", "UTC")):
        catalogue = Catalogue.load(zone)
        for language in ("id", "en"):
            text = catalogue.render(language, Reply("staff.after_hours", {"opens": opens}))
            assert text.endswith(f" {name}."), text
