"""Support hours: when a customer handed to staff can expect a person."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.support_hours import SupportHours, SupportHoursError
from bot.settings import SettingsError, load_settings

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

WIB = SupportHours.parse("mon-fri 09:00-17:00", "Asia/Jakarta")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        (utc(2026, 11, 26, 3, 0), None),  # Thursday 10:00 WIB: open
        (utc(2026, 11, 26, 1, 59), "2026-11-26T09:00:00+07:00"),  # 08:59 the same morning
        (utc(2026, 11, 26, 10, 0), "2026-11-27T09:00:00+07:00"),  # 17:00 sharp: closed
        (utc(2026, 11, 27, 12, 0), "2026-11-30T09:00:00+07:00"),  # Friday night: Monday
        (utc(2026, 11, 28, 3, 0), "2026-11-30T09:00:00+07:00"),  # Saturday
        (utc(2026, 12, 24, 12, 0), "2026-12-28T09:00:00+07:00"),  # Christmas, then weekend
        (utc(2026, 12, 25, 3, 0), "2026-12-28T09:00:00+07:00"),  # a holiday at 10:00
        (utc(2026, 12, 31, 12, 0), "2027-01-04T09:00:00+07:00"),  # New Year, weekend
    ],
)
def test_next_opening(now: datetime, opens: str | None) -> None:
    found = WIB.next_opening(now)
    assert (found.isoformat() if found else None) == opens


def test_day_lists_and_always() -> None:
    saturdays = SupportHours.parse("sat 08:00-12:00", "Asia/Jakarta")
    assert saturdays.next_opening(utc(2026, 11, 26, 3, 0)).isoformat() == (
        "2026-11-28T08:00:00+07:00"
    )
    assert SupportHours.parse("mon,wed-thu 09:00-10:00", "Asia/Jakarta").days == {0, 2, 3}
    assert SupportHours.parse("always", "Asia/Jakarta").next_opening(utc(2026, 12, 25)) is None


@pytest.mark.parametrize(
    "text", ["", "weekdays", "mon-fri", "fri-mon 09:00-17:00", "mon 17:00-09:00", "mon 9-5"]
)
def test_bad_hours_are_named(text: str) -> None:
    with pytest.raises(SupportHoursError):
        SupportHours.parse(text, "Asia/Jakarta")
    with pytest.raises(SettingsError, match="PRIVACYBOT_SUPPORT_HOURS"):
        load_settings(environ={"PRIVACYBOT_SUPPORT_HOURS": text or " "})


def test_staff_group_needs_a_numeric_id_a_bot_and_a_public_url() -> None:
    bot = {"TELEGRAM_BOT_TOKEN": "123:abc", "PRIVACYBOT_PUBLIC_URL": "https://x"}
    with pytest.raises(SettingsError, match="a numeric chat id"):
        load_settings(environ={"TELEGRAM_STAFF_CHAT_ID": "@staff", **bot})
    with pytest.raises(SettingsError, match="needs TELEGRAM_BOT_TOKEN"):
        load_settings(
            environ={"TELEGRAM_STAFF_CHAT_ID": "-100", "PRIVACYBOT_PUBLIC_URL": "https://x"}
        )
    with pytest.raises(SettingsError, match="PRIVACYBOT_PUBLIC_URL"):
        load_settings(environ={"TELEGRAM_STAFF_CHAT_ID": "-100", "TELEGRAM_BOT_TOKEN": "1:a"})
    s = load_settings(environ={"TELEGRAM_STAFF_CHAT_ID": "-1001234567890", **bot})
    assert s.telegram_staff_chat_id == "-1001234567890"
