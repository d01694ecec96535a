"""Settings: defaults from ``config/defaults.toml``, overridden by environment.

Every setting has a ``PRIVACYBOT_<KEY>`` variable. Bad values are reported by
name so an operator can fix them without reading code.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.domain.support_hours import SupportHours, SupportHoursError

ENV_PREFIX = "PRIVACYBOT_"
# Settings named by their provider's convention rather than ours.
_FOREIGN_NAMES = ("twilio_", "telegram_", "smtp_")


def env_name(field: str) -> str:
    if field.startswith(_FOREIGN_NAMES):
        return field.upper()
    return ENV_PREFIX + field.upper()


class SettingsError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    default_language: str
    timezone: str
    completion_business_days: int
    max_attachment_bytes: int
    max_text_length: int
    draft_resume_hours: int
    draft_expiry_days: int
    max_failures: int
    support_hours: str
    telegram_staff_chat_id: str
    database_busy_timeout: float
    outbox_lease_seconds: float
    log_level: str
    upload_link_hours: int
    public_url: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_whatsapp_number: str
    twilio_sms_number: str
    twilio_api_base_url: str
    telegram_bot_token: str
    telegram_api_base_url: str
    telegram_file_base_url: str
    telegram_webhook_url: str
    telegram_webhook_secret: str
    secret_key: str
    id_proof_retention_days: int
    email_code_minutes: int
    email_code_attempts: int
    email_code_lock_minutes: int
    email_code_resends: int
    email_code_resend_seconds: int
    email_codes_per_hour: int
    accounts_url: str
    accounts_token: str
    smtp_url: str
    mail_from: str
    sla_profile: str
    compliance_record_years: int
    twilio_templates: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def postgres(self) -> bool:
        """Whether the database URL names a PostgreSQL server."""
        return self.database_url.startswith(POSTGRES_SCHEMES)

    @property
    def database_path(self) -> Path:
        """The SQLite file the database URL names."""
        url = self.database_url
        if not url:
            return self.data_dir / "privacybot.db"
        if not url.startswith("sqlite:///"):
            scheme = url.split(":", 1)[0]
            raise SettingsError(
                f"PRIVACYBOT_DATABASE_URL: unsupported database {scheme!r}; "
                "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            )
        return Path(url.removeprefix("sqlite:///"))

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "files"


# URLs that name a PostgreSQL server (libpq's two spellings).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

# Settings that hold secrets, or URLs that may carry them: never shown.
SECRET_SETTINGS = frozenset(
    {
        "twilio_auth_token",
        "telegram_bot_token",
        "telegram_webhook_secret",
        "secret_key",
        "accounts_token",
        "smtp_url",
    }
)


def visible_settings(s: Settings) -> list[tuple[str, str]]:
    """(environment variable, value) of every setting, secrets replaced by
    whether they are set: what an admin may see."""
    shown = []
    for field in dataclasses.fields(Settings):
        value = getattr(s, field.name)
        if field.name == "twilio_templates":
            for kind, sid in sorted(value.items()):
                shown.append((f"TWILIO_TEMPLATE_{kind.upper()}", sid))
            continue
        if field.name in SECRET_SETTINGS:
            value = "(set)" if value else "(not set)"
        elif isinstance(value, str) and "://" in value:
            value = _without_credentials(value)
        shown.append((env_name(field.name), str(value)))
    return shown


def _without_credentials(url: str) -> str:
    """A URL without the ``user:password@`` it may carry."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _defaults() -> dict[str, object]:
    text = resources.files("config").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = None,
    **overrides: object,
) -> Settings:
    """Defaults, then ``dotenv`` (a ``.env`` file; real environment wins), then
    the environment, then explicit overrides (command-line options)."""
    env: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    values: dict[str, object] = _defaults()
    for field in dataclasses.fields(Settings):
        raw = env.get(env_name(field.name))
        if raw is not None and raw != "":
            values[field.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})

    converted: dict[str, object] = {}
    for field in dataclasses.fields(Settings):
        if field.name == "twilio_templates":
            continue  # collected from TWILIO_TEMPLATE_* below
        name = env_name(field.name)
        if field.name not in values:
            raise SettingsError(f"{name}: missing")
        raw = values[field.name]
        try:
            if field.type == "Path":
                converted[field.name] = Path(str(raw)).expanduser()
            elif field.type == "int":
                converted[field.name] = int(str(raw))
            elif field.type == "float":
                converted[field.name] = float(str(raw))
            else:
                converted[field.name] = str(raw)
        except ValueError:
            raise SettingsError(f"{name}: expected a number, got {raw!r}") from None

    # TWILIO_TEMPLATE_<NOTIFICATION>: the approved WhatsApp template (Content SID)
    # for one notification kind, used outside the 24-hour window.
    converted["twilio_templates"] = {
        key.removeprefix("TWILIO_TEMPLATE_").lower(): value
        for key, value in env.items()
        if key.startswith("TWILIO_TEMPLATE_") and value
    } | dict(overrides.get("twilio_templates") or {})  # type: ignore[call-overload]
    settings = Settings(**converted)  # type: ignore[arg-type]
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if s.default_language not in ("id", "en"):
        raise SettingsError("PRIVACYBOT_DEFAULT_LANGUAGE: must be 'id' or 'en'")
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"PRIVACYBOT_TIMEZONE: unknown time zone {s.timezone!r}") from None
    for name in (
        "completion_business_days",
        "max_attachment_bytes",
        "max_text_length",
        "draft_resume_hours",
        "draft_expiry_days",
        "max_failures",
        "upload_link_hours",
        "id_proof_retention_days",
        "email_code_minutes",
        "email_code_attempts",
        "email_code_lock_minutes",
        "email_code_resends",
        "email_code_resend_seconds",
        "email_codes_per_hour",
        "compliance_record_years",
    ):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{env_name(name)}: must be greater than zero")
    for name in (
        "public_url",
        "twilio_api_base_url",
        "telegram_api_base_url",
        "telegram_file_base_url",
        "telegram_webhook_url",
        "accounts_url",
    ):
        value = getattr(s, name)
        if value and not value.startswith(("http://", "https://")):
            raise SettingsError(f"{env_name(name)}: must start with http:// or https://")
    if bool(s.twilio_account_sid) != bool(s.twilio_auth_token):
        raise SettingsError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together")
    if s.smtp_url and not s.smtp_url.startswith(("smtp://", "smtps://")):
        raise SettingsError("SMTP_URL: must start with smtp:// or smtps://")
    if s.smtp_url and "@" not in s.mail_from:
        raise SettingsError("PRIVACYBOT_MAIL_FROM: an email address is required with SMTP_URL")
    if s.twilio_enabled and not s.public_url:
        raise SettingsError(
            "PRIVACYBOT_PUBLIC_URL: required with Twilio (webhook signatures are checked"
            " against it)"
        )
    if s.draft_expiry_days * 24 <= s.draft_resume_hours:
        raise SettingsError(
            "PRIVACYBOT_DRAFT_EXPIRY_DAYS must be longer than PRIVACYBOT_DRAFT_RESUME_HOURS"
        )
    if s.sla_profile not in ("policy", "uu-pdp"):
        raise SettingsError("PRIVACYBOT_SLA_PROFILE: 'policy' or 'uu-pdp'")
    if not 5 <= s.outbox_lease_seconds <= 3600:
        raise SettingsError("PRIVACYBOT_OUTBOX_LEASE_SECONDS: between 5 and 3600 seconds")
    if s.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError("PRIVACYBOT_LOG_LEVEL: one of DEBUG, INFO, WARNING, ERROR")
    if not s.postgres:
        s.database_path  # noqa: B018 - validates the URL early
    try:
        SupportHours.parse(s.support_hours, s.timezone)
    except SupportHoursError as exc:
        raise SettingsError(f"PRIVACYBOT_SUPPORT_HOURS: {exc}") from None
    if s.telegram_staff_chat_id and not s.telegram_staff_chat_id.lstrip("-").isdigit():
        raise SettingsError("TELEGRAM_STAFF_CHAT_ID: a numeric chat id, e.g. -1001234567890")
    if s.telegram_staff_chat_id and not s.telegram_bot_token:
        raise SettingsError("TELEGRAM_STAFF_CHAT_ID: needs TELEGRAM_BOT_TOKEN (the bot posts)")
    if s.telegram_staff_chat_id and not s.public_url:
        raise SettingsError(
            "PRIVACYBOT_PUBLIC_URL: required with TELEGRAM_STAFF_CHAT_ID (the announcements"
            " link to the console)"
        )
