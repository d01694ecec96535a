"""Input checks: names in any script, email syntax without DNS, references."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.validators import (
    clean_text,
    parse_choices,
    parse_reference,
    sniff_media_type,
    validate_email_address,
    validate_name,
    validate_reason,
)
from tests.conftest import JPEG, PDF, PNG, WEBP

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop


@pytest.mark.parametrize(
    "name",
    [
        "Budi Santoso",
        "Siti Nur'aini",
        "Jean-Luc Picard",
        "Dr. A. Wijaya",
        "Nguyễn Văn An",
        "محمد علي",
        "דוד לוי",
        "李小龍",
        "Ni Luh Putu Ayu",
        "Al",
    ],
)
def test_names_in_any_script_are_accepted(name: str) -> None:
    assert validate_name(name) == (name, None)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("B", "hint.name_short"),
        ("", "hint.name_short"),
        ("x" * 101, "hint.name_long"),
        ("Budi 123", "hint.name_chars"),
        ("Budi 😀", "hint.name_chars"),
        ("--..", "hint.name_chars"),
        ("Budi@Santoso", "hint.name_chars"),
    ],
)
def test_bad_names_get_a_specific_hint(name: str, hint: str) -> None:
    assert validate_name(name) == (None, hint)


def test_name_length_bounds() -> None:
    assert validate_name("x" * 100)[0] == "x" * 100
    assert validate_name("  Budi   Santoso ")[0] == "Budi Santoso"


def test_email_is_normalised_and_checked_without_dns() -> None:
    assert validate_email_address("Budi@Example.COM") == ("Budi@example.com", None)
    assert validate_email_address("budi@toko-saya.co.id")[0] == "budi@toko-saya.co.id"
    for bad in ["budi", "budi@", "@example.com", "budi@example", "bu di@example.com", "a@b@c.com"]:
        assert validate_email_address(bad) == (None, "hint.email"), bad


def test_reason_length() -> None:
    assert validate_reason("ab") == (None, "hint.reason_short")
    assert validate_reason("abc") == ("abc", None)
    assert validate_reason("x" * 500)[0] == "x" * 500
    assert validate_reason("x" * 501) == (None, "hint.reason_long")


def test_clean_text_strips_controls_and_bidi_overrides_but_keeps_emoji() -> None:
    assert clean_text("  halo\x00\x07 dunia\u202e  ") == "halo dunia"
    assert clean_text("a\r\nb") == "a\nb"
    family = "👨\u200d👩\u200d👧"
    assert clean_text(family) == family


def test_references_are_read_forgivingly() -> None:
    assert parse_reference("DEL-7K3M9Q") == "DEL-7K3M9Q"
    assert parse_reference(" del-7k3m9q ") == "DEL-7K3M9Q"
    assert parse_reference("DEL7K3M9Q") == "DEL-7K3M9Q"
    assert parse_reference("acc-0o1il2") == "ACC-001112"
    assert parse_reference("XYZ-7K3M9Q") is None
    assert parse_reference("DEL-7K3M9") is None
    assert parse_reference("DEL-7K3M9U") is None  # U is not in Crockford's alphabet


def test_choices() -> None:
    assert parse_choices("1, 3", 5) == [1, 3]
    assert parse_choices("2 dan 4", 5) == [2, 4]
    assert parse_choices("3 and 3", 5) == [3]
    assert parse_choices("6", 5) is None
    assert parse_choices("satu", 5) is None


def test_media_type_is_read_from_content() -> None:
    assert sniff_media_type(JPEG) == "image/jpeg"
    assert sniff_media_type(PNG) == "image/png"
    assert sniff_media_type(WEBP) == "image/webp"
    assert sniff_media_type(PDF) == "application/pdf"
    assert sniff_media_type(b"GIF89a....") is None
    assert sniff_media_type(b"MZ\x90\x00") is None
    assert sniff_media_type(b"") is None


def test_a_message_at_a_code_step_is_kept_with_its_digits_masked() -> None:
    from flows.dialogue import asks_code
    from flows.validators import mask_digits

    assert mask_digits("482913") == "••••••"
    assert mask_digits("kode saya 482 913") == "kode saya ••• •••"
    assert mask_digits("４８２９１３") == "••••••"  # full-width digits are digits too
    assert mask_digits("kirim ulang") == "kirim ulang"
    assert asks_code("deletion.email_code") and asks_code("status_code")
    assert not asks_code("deletion.email") and not asks_code("menu")


@given(
    prefix=st.sampled_from(["DEL", "ACC", "COR", "RES"]),
    suffix=st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=6, max_size=6),
    separator=st.sampled_from(["-", " ", "_"]),
    lower=st.booleans(),
    before=st.sampled_from(["status", "cek status", "what is the status of", "statusnya"]),
    after=st.sampled_from(["", "?", " dong", " please", ", terima kasih"]),
)
def test_a_reference_written_with_a_separator_is_found_in_any_sentence(
    prefix: str, suffix: str, separator: str, lower: bool, before: str, after: str
) -> None:
    from flows.validators import find_reference

    written = f"{prefix}{separator}{suffix}"
    text = f"{before} {written.lower() if lower else written}{after}"
    assert find_reference(text) == f"{prefix}-{suffix}"
