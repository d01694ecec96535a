"""Staff accounts and console sessions.

Passwords are hashed with argon2id (``argon2-cffi``). Failed logins are
counted per account and per client address: after 3 the answer is slowed,
after 5 the account (or address) is locked for 15 minutes. Sessions are
random tokens kept only as hashes, expire after 12 hours without use, and
carry their own CSRF token.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.engine import Engine, hash_token

ROLES = ("agent", "admin")
SLOW_AFTER = 3
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
IDLE_LIMIT = timedelta(hours=12)
SLOWDOWN_SECONDS = 1.0
MIN_PASSWORD = 12

_hasher = PasswordHasher()  # argon2id with the library's current parameters
# A hash to check against when the account does not exist, so an unknown
# email takes as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class StaffError(ValueError):
    pass


@dataclass(frozen=True)
class Session:
    id_hash: str
    staff_id: int
    email: str
    role: str
    csrf: str
    language: str


async def add_staff(
    engine: Engine, email: str, role: str, password: str, actor: str = "cli"
) -> None:
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email:
        raise StaffError("the staff account needs an email address")
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password needs at least {MIN_PASSWORD} characters")
    async with engine.store.transaction() as tx:
        if not await tx.create_staff(email, role, _hasher.hash(password), engine.clock()):
            raise StaffError(f"{email} already has an account")
        await tx.add_staff_audit(actor, f"add:{role}", email.lower(), engine.clock())


ACCOUNT_ACTIONS = ("make_admin", "make_agent", "disable", "enable", "reset_password")


async def change_staff(engine: Engine, actor: str, email: str, action: str) -> str | None:
    """An admin's change to an account; a new one-time password for
    ``reset_password`` (shown once, never stored in clear). Nobody changes or
    locks out their own account here, and the last active admin stays one."""
    if action not in ACCOUNT_ACTIONS:
        raise StaffError(f"unknown action {action!r}")
    now = engine.clock()
    password = None
    async with engine.store.transaction() as tx:
        account = await tx.staff_by_email(email)
        if account is None:
            raise StaffError(f"no staff account {email}")
        if account["email"] == actor.lower():
            raise StaffError("you cannot change your own account here")
        other_admins = [
            m
            for m in await tx.list_staff()
            if m["role"] == "admin" and not m["disabled_at"] and m["id"] != account["id"]
        ]
        if (
            action in ("make_agent", "disable")
            and account["role"] == "admin"
            and not account["disabled_at"]
            and not other_admins
        ):
            raise StaffError("the last active admin must stay an admin")
        if action == "make_admin":
            await tx.update_staff(account["id"], role="admin")
        elif action == "make_agent":
            await tx.update_staff(account["id"], role="agent")
        elif action == "disable":
            await tx.update_staff(account["id"], disabled_at=now)
            # Their chats go back to the queue: nobody else could answer them.
            for chat in await tx.return_chats_of(account["email"], now):
                await tx.add_chat_event(chat, actor, "returned_to_queue", account["email"], now)
        elif action == "enable":
            await tx.update_staff(account["id"], disabled_at=None)
        else:
            password = secrets.token_urlsafe(12)
            await tx.update_staff(account["id"], password_hash=_hasher.hash(password))
        if action in ("make_agent", "disable", "reset_password"):
            await tx.end_sessions_of(account["id"])  # takes effect at once
        await tx.add_staff_audit(actor, action, account["email"], now)
    return password


async def ensure_first_admin(engine: Engine) -> str | None:
    """On a database with no staff: one admin with a fresh password, returned
    once to be shown once. None when staff exist."""
    async with engine.store.transaction(readonly=True) as tx:
        if await tx.count_staff():
            return None
    password = secrets.token_urlsafe(12)
    await add_staff(engine, "admin@localhost", "admin", password, actor="system")
    return password


class LoginRefused(Exception):
    """Wrong email or password, or locked: one message for all of them."""


async def log_in(engine: Engine, email: str, password: str, address: str) -> str:
    """A new session's cookie value for correct credentials."""
    now = engine.clock()
    async with engine.store.transaction(readonly=True) as tx:
        account = await tx.staff_by_email(email)
        by_address = await tx.login_failures(address)
    if account is not None and account["disabled_at"]:
        account = None  # a disabled account answers exactly like an unknown one
    address_failures = by_address["failures"] if by_address else 0
    locked = [
        datetime.fromisoformat(x)
        for x in (
            account and account["locked_until"],
            by_address and by_address["locked_until"],
        )
        if x
    ]
    if any(now < until for until in locked):
        raise LoginRefused()
    account_failures = account["failed_logins"] if account else 0
    if max(account_failures, address_failures) >= SLOW_AFTER:
        await asyncio.sleep(SLOWDOWN_SECONDS)  # guessing gets slow before it gets locked
    try:
        _hasher.verify(account["password_hash"] if account else _DUMMY, password)
        ok = account is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        async with engine.store.transaction() as tx:  # committed, then refused
            failures = address_failures + 1
            await tx.set_login_failures(
                address, failures, now + LOCK_FOR if failures >= LOCK_AFTER else None, now
            )
            if account:
                count = account_failures + 1
                await tx.set_staff_login_state(
                    account["id"], count, now + LOCK_FOR if count >= LOCK_AFTER else None
                )
        raise LoginRefused()
    assert account is not None
    async with engine.store.transaction() as tx:
        await tx.set_staff_login_state(account["id"], 0, None)
        await tx.set_login_failures(address, 0, None, now)
        cookie = secrets.token_urlsafe(32)
        await tx.create_session(
            hash_token(cookie), account["id"], secrets.token_urlsafe(32), "id", now
        )
    return cookie


async def session_for(engine: Engine, cookie: str | None, touch: bool = True) -> Session | None:
    """The live session of ``cookie``; ``touch`` counts this as activity (an open
    event stream does not, or a forgotten tab would never time out)."""
    if not cookie:
        return None
    now = engine.clock()
    id_hash = hash_token(cookie)
    async with engine.store.transaction() as tx:
        found = await tx.get_session(id_hash)
        if found is None:
            return None
        if now - datetime.fromisoformat(found["last_seen_at"]) > IDLE_LIMIT:
            await tx.delete_session(id_hash)
            return None
        if touch:
            await tx.touch_session(id_hash, now, None)
    return Session(
        id_hash,
        found["staff_id"],
        found["email"],
        found["role"],
        found["csrf_token"],
        found["language"],
    )
