"""Settings: defaults, .env, environment, overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, env_name, load_settings

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop


def test_defaults_need_no_credentials(tmp_path: Path) -> None:
    s = load_settings(environ={})
    assert s.default_language == "id" and s.completion_business_days == 30
    assert not s.twilio_enabled and not s.telegram_enabled
    assert s.twilio_api_base_url == "https://api.twilio.com"
    assert s.telegram_api_base_url == "https://api.telegram.org/bot"


def test_provider_settings_keep_their_own_names() -> None:
    assert env_name("twilio_auth_token") == "TWILIO_AUTH_TOKEN"
    assert env_name("telegram_bot_token") == "TELEGRAM_BOT_TOKEN"
    assert env_name("public_url") == "PRIVACYBOT_PUBLIC_URL"


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "TELEGRAM_BOT_TOKEN=123:abc\nPRIVACYBOT_DEFAULT_LANGUAGE=en\n"
        "PRIVACYBOT_COMPLETION_BUSINESS_DAYS=20\n"
    )
    s = load_settings(environ={"PRIVACYBOT_COMPLETION_BUSINESS_DAYS": "25"}, dotenv=dotenv)
    assert s.telegram_enabled and s.telegram_bot_token == "123:abc"
    assert s.default_language == "en"
    assert s.completion_business_days == 25


@pytest.mark.parametrize(
    ("environ", "mentions"),
    [
        ({"TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}, "PRIVACYBOT_PUBLIC_URL"),
        ({"PRIVACYBOT_PUBLIC_URL": "bot.example.com"}, "PRIVACYBOT_PUBLIC_URL"),
        ({"TELEGRAM_API_BASE_URL": "ftp://x"}, "TELEGRAM_API_BASE_URL"),
        ({"PRIVACYBOT_UPLOAD_LINK_HOURS": "0"}, "PRIVACYBOT_UPLOAD_LINK_HOURS"),
        ({"PRIVACYBOT_DEFAULT_LANGUAGE": "fr"}, "PRIVACYBOT_DEFAULT_LANGUAGE"),
        ({"PRIVACYBOT_TIMEZONE": "Mars/Olympus"}, "PRIVACYBOT_TIMEZONE"),
        ({"PRIVACYBOT_MAX_FAILURES": "three"}, "PRIVACYBOT_MAX_FAILURES"),
    ],
)
def test_bad_settings_are_named(environ: dict[str, str], mentions: str) -> None:
    with pytest.raises(SettingsError, match=mentions):
        load_settings(environ=environ)
