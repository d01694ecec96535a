"""Staff records as the store hands them over: accounts, the audit trail of
changes to them, login counters and console sessions.

Apart from ``bot.domain.models`` because only the staff side (the accounts
module and the console) reads them; the customer side never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StaffMember:
    """A staff account as a listing shows it: never with its password hash."""

    id: int
    email: str  # lower case
    role: str  # agent or admin
    created_at: datetime
    locked_until: datetime | None  # too many failed logins: locked until then
    disabled_at: datetime | None  # None: the account may sign in
    last_login_at: datetime | None = None
    # A password an admin (or the command line) made: to be changed at login.
    must_change_password: bool = False


@dataclass(frozen=True, kw_only=True)
class StaffAccount(StaffMember):
    """One account with what checking a login needs."""

    password_hash: str
    failed_logins: int


@dataclass(frozen=True)
class StaffAuditEntry:
    """What an admin (or the command line, or the system) did to an account."""

    actor: str
    action: str
    subject: str  # the account's email
    created_at: datetime
    address: str | None = None  # where the change came from (None: before it was kept)


@dataclass(frozen=True)
class LoginFailures:
    """Failed logins from one client address, apart from any account's own
    count, so guessing across accounts slows down and locks too."""

    address: str
    failures: int
    last_at: datetime
    locked_until: datetime | None


@dataclass(frozen=True)
class StaffSessionRecord:
    """A console session (kept by the hash of its cookie) with its staff
    member's email and role."""

    id_hash: str
    staff_id: int
    email: str
    role: str
    csrf: str
    language: str
    created_at: datetime
    last_seen_at: datetime
    must_change_password: bool = False


@dataclass(frozen=True)
class AuditLine:
    """One line of the audit view, whatever its source: an ID-proof view, a
    data-copy download, an account change, a login or a queue export.
    ``kind``: proof_view, download, account, login, login_failed,
    login_locked, export; ``detail`` a code the console words (an account
    change's action, a proof view's purpose); ``address`` None where the
    source does not keep one."""

    kind: str
    actor: str | None
    subject: str
    detail: str
    address: str | None
    at: datetime
