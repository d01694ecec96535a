"""Keep personal data out of the logs.

The privacy desk handles exactly the data its customers ask us to protect, so
the logs must never hold an email address, a phone number, a name or a
one-time code in clear. Two lines of defence keep them out:

1. **Customer text is never logged.** Names, reasons and free-text answers have
   no recognisable shape, so no filter could find them; the code logs
   identifiers (conversation ids, references, states), never what customers
   typed. That rule is the only protection names get.
2. **This filter** masks what *does* have a shape and still slips into a log
   line: an email in an exception message, a phone in a Twilio ``From``, a
   verification code, a Telegram bot token in a URL that httpx logs.

Masking rules (``mask()``):

- **Email addresses** keep the first character of the local part and the whole
  domain: ``budi.santoso@example.com`` -> ``b***@example.com``. Plus-addressing,
  subdomains, any case and the URL-encoded form in query strings
  (``budi%40example.com`` -> ``b***%40example.com``) are covered. The domain
  needs a dot and a top-level domain of letters.
- **Phone numbers** are 9 to 15 digits that start with ``+`` (or ``%2B``), ``0``
  or ``62``, optionally split by single spaces, dashes or an area code in
  parentheses, and are not part of a longer word, number, date, time, UUID or
  decimal. They keep the ``+``, the first two digits and the last four:
  ``+6281234567890`` -> ``+62***7890``, ``081234567890`` -> ``08***7890``,
  ``whatsapp:+62 812-3456-7890`` -> ``whatsapp:+62***7890``. Groups join a
  phone only while it stays within 15 digits, never after a group of more than
  five digits, and not when shorter than four digits once the phone has ten
  (``+6281234567890 200`` keeps its status code). Shorter candidates are left
  alone (apart from any code inside them); so is one unbroken run of more than
  15 digits, an id.
- **One-time codes**: a standalone run of exactly six digits -> ``******``.
  Not when it is part of a longer digit run or word, follows ``-``, ``.``,
  ``@`` or a digit and ``:`` (dates, times, fractions, UUIDs, domains), is
  followed by ``-``, ``.`` or ``:`` and a digit, or follows a request
  prefix (``DEL 123456``; ``DEL-123456`` is already excluded by the dash).
- **Telegram bot tokens** ``<bot id>:<30+ chars>`` keep the bot id only:
  ``123456789:AAHd...`` -> ``123456789:***`` (also with the colon URL-encoded).
  Other secrets (Twilio auth tokens, upload tokens) have no distinctive shape;
  keep them out of log calls.

Left alone on purpose: ISO dates and times, years, request references such as
``DEL-7K3M9Q``, HTTP status codes, ports, small database ids, durations and
hex tokens. Masking is idempotent: masking masked text changes nothing.

``PersonalDataFilter`` masks the fully formatted message (and the formatted
traceback and stack) in place, then clears ``args`` and ``exc_info`` so no
formatter can render the originals again. Filters sit on *handlers*, not
loggers: a logger's filters do not see records propagated from child loggers,
a handler's do, which is how uvicorn, httpx, telegram, twilio and aiosmtplib
records get masked too. Call ``install()`` once logging is configured. Only
the message, traceback and stack are masked; do not pass personal data in
``extra=`` fields.
"""

from __future__ import annotations

import logging
import re

__all__ = ["PersonalDataFilter", "install", "mask"]

_EMAIL = re.compile(
    r"""
    (?<![\w.%+-])(?P<local>[\w.%+-]+)(?P<at>@|%40)
    (?P<domain>(?:[\w-]+\.)+[^\W\d_]{2,})
    """,
    re.VERBOSE,
)
# Codes, phones and tokens all begin with one of [0-9+%(]. Consuming that
# character first lets the regex engine jump between candidates instead of
# trying every alternative at every position (5x faster); the lookbehinds
# therefore look at the character before it with a one-character offset.
_CODE = r"""
    (?P<code>
        (?<=[0-9])(?<![\w.+@-][0-9])(?<![0-9]:[0-9])
        (?<!(?i:del|acc|cor|res)\ [0-9])             # DEL 123456 is a reference
        [0-9]{5}(?!\w)(?![.:-][0-9])
    )"""
_TOKEN = r"""
    (?P<token>
        (?<=[0-9])(?<![0-9]{2})[0-9]{4,11}(?P<bot_sep>:|%3[Aa])
        [A-Za-z0-9_-]{30,}(?![A-Za-z0-9_-])
    )"""
_PHONE = r"""
    (?P<phone>
        (?:
            (?<![\w+][+%])(?:(?<=%)2[Bb]|(?<=\+))[0-9]{1,4}   # +CC or %2BCC
          | (?<![\w.+%@-][(06])(?<![0-9][:/][(06])            # 0, 62 or (0
            (?:(?<=\()(?:0[0-9]{2,4}|62[0-9]{1,3})|(?<=0)[0-9]{2,4}|(?<=6)2[0-9]{1,3})
        )
        (?:(?:[\ -]|\)\ ?|\ ?\()?[0-9]{2,5}){1,6}
        (?!\w)(?!-\w)(?![.:][0-9])
    )"""
# At one position the token is tried before the code (a bot id may have six
# digits) and the code before the phone.
_DIGITS = re.compile(rf"[0-9+%(](?:{_TOKEN}|{_CODE}|{_PHONE})", re.VERBOSE)
_CODE_ONLY = re.compile(rf"[0-9](?:{_CODE})", re.VERBOSE)
_NOT_DIGIT = re.compile(r"[^0-9]")
_RUN = re.compile(r"[0-9]+")
_FORMATTER = logging.Formatter()

# uvicorn's AccessFormatter unpacks record.args itself: mask those one by one.
_ARGS_KEPT_FOR = frozenset({"uvicorn.access"})
_MASKED = "_personal_data_masked"


def _mask_email(match: re.Match[str]) -> str:
    return f"{match['local'][0]}***{match['at']}{match['domain']}"


def _mask_digits(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "code":
        return "******"
    text = match.group()
    if kind == "token":
        return f"{text[: match.start('bot_sep') - match.start()]}{match['bot_sep']}***"
    return _mask_phone(text)


def _mask_phone(text: str) -> str:
    """The regex takes digit groups generously; decide here where the phone
    ends: a run of more than 5 digits takes no further group, a phone of 10
    digits or more takes no group shorter than 4 (a status code, a count), and
    none grows past 15 digits. What follows is masked on its own."""
    plus = "+" if text[0] == "+" else text[:3] if text[0] == "%" else ""
    runs = list(_RUN.finditer(text, len(plus)))
    total = end = 0
    for index, run in enumerate(runs):
        size = run.end() - run.start()
        if index and (
            total + size > 15 or (total >= 10 and size < 4) or len(runs[index - 1][0]) > 5
        ):
            break
        total += size
        end = run.end()
    if 9 <= total <= 15:
        digits = _NOT_DIGIT.sub("", text[len(plus) : end])
        head = f"{plus}{digits[:2]}***{digits[-4:]}"
    else:  # no phone starts here; a code may still be inside
        end = runs[0].end()
        head = _CODE_ONLY.sub(_mask_digits, text[:end])
    return head + _DIGITS.sub(_mask_digits, text[end:])


def mask(text: str) -> str:
    """Mask emails, phone numbers, one-time codes and bot tokens in ``text``
    (rules in the module docstring)."""
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(_mask_email, text)
    return _DIGITS.sub(_mask_digits, text)


class PersonalDataFilter(logging.Filter):
    """Masks personal data in every record a handler emits.

    The message is formatted first (``record.getMessage()``) so data passed as
    ``%s`` arguments is masked too, then stored as ``record.msg`` with
    ``record.args = None`` so it is not %-formatted twice. A traceback is
    rendered, masked and kept in ``record.exc_text`` with ``record.exc_info``
    cleared, so no handler renders the unmasked exception again. A record
    reaching several handlers is masked once. Never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MASKED, False):
            return True
        try:
            self._mask_record(record)
        except Exception:  # never raise into the caller, never leak
            record.msg = "<log record withheld: masking failed>"
            record.args = None
            record.exc_info = record.exc_text = record.stack_info = None
        setattr(record, _MASKED, True)
        return True

    @staticmethod
    def _mask_record(record: logging.LogRecord) -> None:
        if record.name in _ARGS_KEPT_FOR and isinstance(record.args, tuple):
            record.msg = mask(str(record.msg))
            record.args = tuple(mask(a) if isinstance(a, str) else a for a in record.args)
        else:
            try:
                message = record.getMessage()
            except Exception:  # bad format arguments: keep what there is, masked
                message = f"{record.msg} {record.args!r}"
            record.msg = mask(message)
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = mask(record.stack_info)


_FILTER = PersonalDataFilter()


def _add_to(handler: logging.Handler) -> None:
    if not any(isinstance(f, PersonalDataFilter) for f in handler.filters):
        handler.addFilter(_FILTER)


def install(handler_or_logger: logging.Handler | logging.Logger | None = None) -> None:
    """Attach the filter to every handler that exists now: the root logger's,
    those of any other logger (uvicorn's own, for instance), logging's
    last-resort handler, and the given handler or logger's handlers.
    Idempotent. Handlers added later are not covered: call it after logging is
    configured."""
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    if isinstance(handler_or_logger, logging.Handler):
        handlers.append(handler_or_logger)
    elif isinstance(handler_or_logger, logging.Logger):
        handlers.extend(handler_or_logger.handlers)
    elif handler_or_logger is not None:
        raise TypeError(f"expected a logging.Handler or Logger, got {handler_or_logger!r}")
    for handler in handlers:
        _add_to(handler)
