"""The logs never hold an email, a phone number or a code in clear."""

from __future__ import annotations

import logging
import timeit
from collections.abc import Iterator

import pytest

from bot.infra.logmask import PersonalDataFilter, install, mask

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

MASKED = [
    # Emails: first character of the local part, the whole domain.
    ("budi.santoso@example.com", "b***@example.com"),
    ("to budi+promo@mail.example.co.id.", "to b***@mail.example.co.id."),
    ("BUDI.SANTOSO@EXAMPLE.COM", "B***@EXAMPLE.COM"),
    ("<siti_rahma-99@sub.domain.example.org>", "<s***@sub.domain.example.org>"),
    ("mailto:budi@example.com", "mailto:b***@example.com"),
    ("/verify?email=budi%40example.com&x=1", "/verify?email=b***%40example.com&x=1"),
    ("?email=budi%2Bpromo%40example.com", "?email=b***%40example.com"),
    ("a@b.co and c.d@e.id", "a***@b.co and c***@e.id"),
    ("6281234567890@s.whatsapp.net", "6***@s.whatsapp.net"),
    # Phones: "+" and the first two digits, then the last four.
    ("+6281234567890", "+62***7890"),
    ("081234567890", "08***7890"),
    ("6281234567890", "62***7890"),
    ("From=whatsapp:+6281234567890", "From=whatsapp:+62***7890"),
    ("+62 812-3456-7890", "+62***7890"),
    ("+62-812-3456-7890", "+62***7890"),
    ("0812 3456 7890", "08***7890"),
    ("0812-3456-789", "08***6789"),
    ("+62 (812) 3456-7890", "+62***7890"),
    ("(021) 1234-5678", "02***5678"),
    ("+1 415-555-0100", "+14***0100"),
    ("+447911123456", "+44***3456"),
    ("?phone=%2B6281234567890&x", "?phone=%2B62***7890&x"),
    ("tel:081234567890,", "tel:08***7890,"),
    ("nomor 081234567890.", "nomor 08***7890."),
    ("0812 3456 7890 0813 1111 2222", "08***7890 08***2222"),
    ("+6281234567890 200 OK", "+62***7890 200 OK"),
    ("081234567890 2026-11-26", "08***7890 2026-11-26"),
    ("0812 3456 789 200", "08***6789 200"),
    ("+62 812 3456 789", "+62***6789"),
    ("+44 20 7946 0958", "+44***0958"),
    ("0812 081234567890", "0812 08***7890"),
    # One-time codes: six standalone digits.
    ("code 123456", "code ******"),
    ("kode: 654321.", "kode: ******."),
    ("code=012345&x=1", "code=******&x=1"),
    ("/verify/123456", "/verify/******"),
    ("codes 123456,654321", "codes ******,******"),
    ("08 123456", "08 ******"),
    # Telegram bot tokens keep the bot id.
    (BOT_TOKEN, "123456789:***"),
    (
        f"https://api.telegram.org/bot{BOT_TOKEN}/getMe",
        "https://api.telegram.org/bot123456789:***/getMe",
    ),
    ("bot123456789%3AAAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "bot123456789%3A***"),
    (
        f"GET https://api.telegram.org/bot{BOT_TOKEN}/getUpdates?phone=+6281234567890 200",
        "GET https://api.telegram.org/bot123456789:***/getUpdates?phone=+62***7890 200",
    ),
    (
        "sent code 123456 to budi@example.com via whatsapp:+6281234567890 on 2026-11-26",
        "sent code ****** to b***@example.com via whatsapp:+62***7890 on 2026-11-26",
    ),
]

UNCHANGED = [
    "2026-11-26",
    "2026-11-26T10:30:00.123456+07:00",
    "2026-11-26 10:30:00,123 INFO bot.conversation.engine: started",
    "10:30:00 2026-11-26",
    "26/11/2026 08-12-2026 10:30",
    "due 2027-01-12, year 2026",
    "DEL-7K3M9Q ACC-1A2B3C",
    "DEL-123456 COR 123456 res 654321 DEL_123456",
    "HTTP/1.1 200 OK, 404, 503",
    "listening on 127.0.0.1:8080 and [::1]:65535",
    "conversation=123 user=42 request_id=98765",
    "took 0.123456s, 1234ms, 12.345678 s, 123456789 ns",
    "550e8400-e29b-41d4-a716-446655440000",
    "a1b2c3d4e5f6 deadbeef12345 0x123456 abc123456 123456abc",
    "1234567 12345678 1234567890123",
    "0123456789012345678",
    "123456-7890 123456.78 123456:12",
    "v0.12.3 1.0812345678 version 3.11.7",
    "+62 is the country code, +07:00 is WIB",
    "0812",
    "SM0123456789abcdef0123456789abcdef AC0812345678901234",
    "b***@example.com +62***7890 08***7890 ****** 123456789:***",
    "an @ sign, user@localhost, @handle",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_masks(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize("text", UNCHANGED)
def test_leaves_alone(text: str) -> None:
    assert mask(text) == text


@pytest.mark.parametrize("text", [t for t, _ in MASKED] + UNCHANGED)
def test_masking_is_idempotent(text: str) -> None:
    assert mask(mask(text)) == mask(text)


def test_masking_a_200_character_message_is_fast() -> None:
    message = (
        "2026-11-26 10:30:00,123 INFO bot.conversation.engine: conversation=123 state=summary "
        "reference DEL-7K3M9Q sent code 123456 to budi.santoso@example.com via "
        "whatsapp:+6281234567890 in 12.5 ms, status 200"
    )
    assert 180 <= len(message) <= 220
    runs = 2000
    best = min(timeit.repeat(lambda: mask(message), number=runs, repeat=5)) / runs
    assert best < 50e-6, f"{best * 1e6:.1f} µs"


# The filter on handlers ---------------------------------------------------------


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[ListHandler]:
    """A root logger whose only handler writes to a list, with the filter
    installed; logging's global state is put back afterwards."""
    handler = ListHandler()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [handler])
    last_resort = logging.lastResort
    saved_filters = list(last_resort.filters) if last_resort else []
    saved_levels = {
        name: (logging.getLogger(name).level, logging.getLogger(name).disabled)
        for name in ("", "httpx", "privacybot.test")
    }
    for name in saved_levels:
        logging.getLogger(name).setLevel(logging.DEBUG if name == "" else logging.NOTSET)
        logging.getLogger(name).disabled = False
    install()
    try:
        yield handler
    finally:
        for name, (level, disabled) in saved_levels.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).disabled = disabled
        if last_resort is not None:
            last_resort.filters[:] = saved_filters


def test_arguments_are_masked_after_formatting(captured: ListHandler) -> None:
    log = logging.getLogger("privacybot.test")
    log.info("sent code %s to %s", "123456", "budi@example.com")
    assert captured.lines == ["INFO privacybot.test: sent code ****** to b***@example.com"]


def test_exceptions_are_masked(captured: ListHandler) -> None:
    log = logging.getLogger("privacybot.test")
    try:
        raise LookupError("no account for budi.santoso@example.com, phone +6281234567890")
    except LookupError:
        log.exception("lookup for %s failed", "siti@example.com")
    text = captured.text
    assert "lookup for s***@example.com failed" in text
    assert "Traceback (most recent call last)" in text
    assert "LookupError: no account for b***@example.com, phone +62***7890" in text
    for original in ("budi.santoso@", "siti@", "6281234567890"):
        assert original not in text


def test_stack_info_is_masked(captured: ListHandler) -> None:
    def deliver_to_budi_at_example_com(address: str) -> None:
        logging.getLogger("privacybot.test").warning("delivering", stack_info=True)

    deliver_to_budi_at_example_com("budi@example.com")
    assert "Stack (most recent call last)" in captured.text
    assert "budi@example.com" not in captured.text  # the source line holds it


def test_third_party_loggers_are_masked(captured: ListHandler) -> None:
    url = f"https://api.telegram.org/bot{BOT_TOKEN}/getUpdates?phone=+6281234567890"
    logging.getLogger("httpx").info('HTTP Request: GET %s "HTTP/1.1 200 OK"', url)
    text = captured.text
    assert text.startswith(
        "INFO httpx: HTTP Request: GET https://api.telegram.org/bot123456789:***/"
    )
    assert "?phone=+62***7890" in text
    assert BOT_TOKEN not in text
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in text
    assert "6281234567890" not in text


def test_none_of_the_originals_reach_the_output(captured: ListHandler) -> None:
    log = logging.getLogger("privacybot.test")
    log.info("sent code %s to %s", "123456", "budi@example.com")
    try:
        raise ValueError("bad address budi@example.com")
    except ValueError:
        log.exception("failed")
    logging.getLogger("httpx").warning(
        "GET https://api.telegram.org/bot%s/getUpdates?phone=+6281234567890", BOT_TOKEN
    )
    assert len(captured.lines) == 3
    for original in ("123456 ", "budi@example.com", BOT_TOKEN, "+6281234567890"):
        assert original not in captured.text


def test_a_record_through_several_handlers_is_masked_once(captured: ListHandler) -> None:
    second = ListHandler()
    install(second)
    logging.getLogger().addHandler(second)
    logging.getLogger("privacybot.test").info("code %s", "123456")
    assert captured.lines == second.lines == ["INFO privacybot.test: code ******"]


def test_bad_format_arguments_neither_raise_nor_leak(captured: ListHandler) -> None:
    logging.getLogger("privacybot.test").info("%d for %s", "budi@example.com")
    assert len(captured.lines) == 1
    assert "b***@example.com" in captured.text
    assert "budi@example.com" not in captured.text


def test_filter_masks_the_record_in_place_and_keeps_it() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "to %s: %s", ("+6281234567890", "123456"), None
    )
    assert PersonalDataFilter().filter(record) is True
    assert record.msg == "to +62***7890: ******"
    assert record.args is None
    assert record.getMessage() == "to +62***7890: ******"


def test_uvicorn_access_records_keep_their_arguments() -> None:
    uvicorn_logging = pytest.importorskip("uvicorn.logging")
    handler = ListHandler()
    handler.setFormatter(uvicorn_logging.AccessFormatter("%(request_line)s %(status_code)s"))
    handler.addFilter(PersonalDataFilter())
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50000", "GET", "/verify?email=budi%40example.com&code=123456", "1.1", 200),
        None,
    )
    handler.handle(record)
    assert handler.lines == ["GET /verify?email=b***%40example.com&code=****** HTTP/1.1 200 OK"]


def test_install_is_idempotent(captured: ListHandler) -> None:
    other = ListHandler()
    named = logging.getLogger("privacybot.test.own-handler")
    named.addHandler(other)
    try:
        install(other)
        install(other)
        install(named)
        install()
    finally:
        named.removeHandler(other)
    for handler in (captured, other):
        assert sum(isinstance(f, PersonalDataFilter) for f in handler.filters) == 1


def test_install_covers_handlers_of_other_loggers(captured: ListHandler) -> None:
    own = ListHandler()
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(own)
    try:
        install()
        uvicorn_error.error("client %s gone", "budi@example.com")
    finally:
        uvicorn_error.removeHandler(own)
    assert own.lines == ["ERROR uvicorn.error: client b***@example.com gone"]


def test_install_rejects_other_objects() -> None:
    with pytest.raises(TypeError):
        install("httpx")  # type: ignore[arg-type]
