"""Nothing holding customers' data or secrets is ever committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Suffixes and names of files that hold personal data or secrets: databases (and their
# journals), keys, and mail written by the development mailer.
FORBIDDEN_SUFFIXES = (
    ".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite", ".sqlite3", ".key", ".pem", ".eml",
)
FORBIDDEN_NAMES = {"secret.key", ".env"}


def _tracked() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [name for name in out.decode().split("\0") if name]


def _forbidden(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base in FORBIDDEN_NAMES or base.endswith(FORBIDDEN_SUFFIXES)


def test_no_database_key_or_mail_file_is_tracked() -> None:
    offending = [name for name in _tracked() if _forbidden(name)]
    assert offending == [], f"tracked files that hold data or secrets: {offending}"


def test_the_rule_catches_what_was_once_committed() -> None:
    for name in ("d5/privacybot.db", "d5/secret.key", "data/privacybot.db-wal", "x/mail/1.eml"):
        assert _forbidden(name), name
    assert not _forbidden("bot/store/migrations/0001_initial.sql")


def test_ignored_by_git() -> None:
    for name in (
        *("d5/privacybot.db", "d5/secret.key", "x.db-wal", "x.db-shm"),
        *("data/x", "m.eml", "d5/mail/1.eml"),
    ):
        result = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT, timeout=30
        )
        assert result.returncode == 0, f"{name} is not ignored"
