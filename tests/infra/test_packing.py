"""Packing replies into messages, and SMS segment counting (GSM-7 vs UCS-2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.infra.packing import pack, split, utf16_length
from integrations.twilio.text import encoding, segments

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop


def test_gsm_and_ucs2_segments() -> None:
    assert encoding("Halo, apa kabar?") == "gsm"
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("a" * 306) == 2
    assert segments("a" * 307) == 3
    # Extension characters take two septets.
    assert segments("€" * 80) == 1
    assert segments("€" * 81) == 2
    # One character outside GSM-7 makes the whole message UCS-2.
    assert encoding("Terima kasih 🙏") == "ucs2"
    assert segments("a" * 69 + "😀") == 2  # the emoji takes two code units: 71 > 70
    assert segments("a" * 70) == 1 and segments("ā" * 70) == 1
    assert segments("ā" * 71) == 2
    assert segments("ā" * 134) == 2 and segments("ā" * 135) == 3


def test_escape_pairs_are_not_split_across_segments() -> None:
    # 152 plain septets then a two-septet character: it moves to segment 2.
    text = "a" * 152 + "€" + "a" * 10
    assert segments(text) == 2


def test_pack_joins_what_fits_and_splits_what_does_not() -> None:
    fits = lambda t: len(t) <= 20  # noqa: E731
    bodies = pack(["satu", "dua", "tiga tiga tiga tiga tiga"], fits)
    assert [b.text for b in bodies] == ["satu\n\ndua", "tiga tiga tiga tiga", "tiga"]
    assert [b.replies for b in bodies] == [[0, 1], [2], [2]]


@given(
    st.lists(st.text(min_size=1, max_size=400), min_size=1, max_size=6),
    st.integers(min_value=5, max_value=200),
)
def test_packing_never_exceeds_and_never_loses_words(texts: list[str], limit: int) -> None:
    fits = lambda t: utf16_length(t) <= limit  # noqa: E731
    bodies = pack(texts, fits)
    for body in bodies:
        assert fits(body.text)
    joined = "".join(b.text for b in bodies)
    for text in texts:
        for word in text.split():
            if utf16_length(word) <= limit:
                assert word in joined


def test_split_keeps_short_text_whole() -> None:
    assert split("Halo", lambda t: True) == ["Halo"]
