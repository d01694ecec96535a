"""Both languages carry every text, with the same placeholders, and every key
the dialogue can produce exists."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from bot.catalogue import Catalogue, placeholders
from flows.types import Label, Reply, Seq

ROOT = Path(__file__).resolve().parents[1]


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
