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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV_PREFIX = "PRIVACYBOT_"


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
    database_busy_timeout: float
    log_level: str

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
                "only sqlite:///PATH is available in this release"
            )
        return Path(url.removeprefix("sqlite:///"))

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "files"


def _defaults() -> dict[str, object]:
    text = resources.files("config").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, object] = _defaults()
    for field in dataclasses.fields(Settings):
        raw = env.get(ENV_PREFIX + field.name.upper())
        if raw is not None and raw != "":
            values[field.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})

    converted: dict[str, object] = {}
    for field in dataclasses.fields(Settings):
        name = ENV_PREFIX + field.name.upper()
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
    ):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()}: must be greater than zero")
    if s.draft_expiry_days * 24 <= s.draft_resume_hours:
        raise SettingsError(
            "PRIVACYBOT_DRAFT_EXPIRY_DAYS must be longer than PRIVACYBOT_DRAFT_RESUME_HOURS"
        )
    if s.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError("PRIVACYBOT_LOG_LEVEL: one of DEBUG, INFO, WARNING, ERROR")
    s.database_path  # noqa: B018 - validates the URL early
