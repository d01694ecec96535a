"""Staff accounts, their audit trail, login counters (per account and
per client address), console sessions and back-office API tokens.
"""

from __future__ import annotations

import abc
from datetime import datetime

from bot.domain.records_staff import (
    LoginFailures,
    StaffAccount,
    StaffAuditEntry,
    StaffMember,
    StaffSessionRecord,
)


class Staff(abc.ABC):
    """The staff-account part of a ``Transaction`` (``bot.store.base``)."""

    @abc.abstractmethod
    async def create_staff(
        self,
        email: str,
        role: str,
        password_hash: str,
        now: datetime,
        must_change_password: bool = False,
    ) -> bool:
        """False when the email already has an account. ``must_change_password``:
        the password is a one-time one, to be changed at the first login."""

    @abc.abstractmethod
    async def count_staff(self) -> int: ...

    @abc.abstractmethod
    async def list_staff(self) -> list[StaffMember]:
        """Every account, by email."""

    @abc.abstractmethod
    async def staff_by_email(self, email: str) -> StaffAccount | None:
        """The account of this email (in any case), disabled or not."""

    @abc.abstractmethod
    async def other_active_admins(self, staff_id: int) -> int:
        """How many enabled admin accounts there are besides ``staff_id``: the
        last one must stay an admin."""

    @abc.abstractmethod
    async def update_staff(
        self,
        staff_id: int,
        *,
        role: str | None = None,
        disabled_at: datetime | bool | None = False,
        password_hash: str | None = None,
        must_change_password: bool | None = None,
    ) -> None:
        """Change what is given; ``disabled_at`` None enables, False leaves it.
        A new ``password_hash`` also clears the failed logins and the lock."""

    @abc.abstractmethod
    async def note_staff_login(self, staff_id: int, now: datetime) -> None:
        """A successful login: the account's last login is now."""

    @abc.abstractmethod
    async def end_sessions_of(self, staff_id: int, keep: str | None = None) -> None:
        """End the account's sessions, all but the one hashed ``keep``."""

    @abc.abstractmethod
    async def add_staff_audit(
        self, actor: str, action: str, subject: str, now: datetime, address: str | None = None
    ) -> None:
        """What an admin did to a staff account (``address``: from where)."""

    @abc.abstractmethod
    async def staff_audit(self, limit: int) -> list[StaffAuditEntry]:
        """The latest ``limit`` changes to accounts, newest first."""

    @abc.abstractmethod
    async def set_staff_login_state(
        self, staff_id: int, failed: int, locked_until: datetime | None
    ) -> None: ...

    @abc.abstractmethod
    async def add_staff_login_failure(self, staff_id: int) -> tuple[int, datetime | None]:
        """Count one more failed login in place (never read-then-write, or
        parallel guesses overwrite each other's counts); the new count and the
        current ``locked_until``."""

    @abc.abstractmethod
    async def login_failures(self, address: str) -> LoginFailures | None: ...

    @abc.abstractmethod
    async def add_login_failure(self, address: str, now: datetime) -> tuple[int, datetime | None]:
        """Like ``add_staff_login_failure``, for a client address."""

    @abc.abstractmethod
    async def set_login_failures(
        self, address: str, failures: int, locked_until: datetime | None, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def create_session(
        self, id_hash: str, staff_id: int, csrf: str, language: str, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def get_session(self, id_hash: str) -> StaffSessionRecord | None:
        """The session with its staff member's email and role; None when it
        is unknown or its account is disabled."""

    @abc.abstractmethod
    async def touch_session(self, id_hash: str, now: datetime, language: str | None) -> None: ...

    @abc.abstractmethod
    async def delete_session(self, id_hash: str) -> None: ...

    @abc.abstractmethod
    async def create_api_token(self, name: str, token_hash: str, now: datetime) -> None: ...

    @abc.abstractmethod
    async def api_token_name(self, token_hash: str, now: datetime) -> str | None:
        """The name of a valid token (and note its use), None if unknown or revoked."""
