"""Staff accounts and console sessions.

Passwords are hashed with argon2id (``argon2-cffi``). Failed logins are
counted per account and per client address: after 3 from an address its
answers are slowed, after 5 the account (or address) is locked for 15
minutes. Hashing runs in worker threads (``bot.infra.cpu``), a few at a time, so
logins never stall the rest of the server. Sessions are random tokens kept
only as hashes, expire after 12 hours without use, and carry their own CSRF
token.

A password someone else made (an admin in the console, the command line, the
first admin at start) is a one-time password: the account must change it at
its first login (``Session.must_change_password``; the console sends every page to
the change form until then). Logins, successful or not, are kept with the
client's address for the audit view.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.domain.errors import Refused
from bot.infra.cpu import Busy, off_loop, off_loop_or_busy
from bot.infra.crypto import hash_token
from bot.services import Services

ROLES = ("agent", "admin")
SLOW_AFTER = 3
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
IDLE_LIMIT = timedelta(hours=12)
SLOWDOWN_SECONDS = 1.0
MIN_PASSWORD = 12
# Logins waiting for a hashing slot before more are told to try again: with
# two slots and ~0.1 s a hash, a wait of about a second and a half at most.
LOGIN_QUEUE = 32

_hasher = PasswordHasher()  # argon2id with the library's current parameters
# A hash to check against when the account does not exist, so an unknown
# email takes as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class StaffError(Refused, ValueError):
    """A refused change to staff accounts (``staff_exists``, ``last_admin``...)."""


@dataclass(frozen=True)
class Session:
    id_hash: str
    staff_id: int
    email: str
    role: str
    csrf: str
    language: str
    must_change_password: bool = False


async def add_staff(
    services: Services,
    email: str,
    role: str,
    password: str,
    actor: str = "cli",
    *,
    one_time: bool = False,
    address: str | None = None,
) -> None:
    """A new account. ``one_time``: the password was made for its owner (by an
    admin, by the command line), who must change it at the first login."""
    if role not in ROLES:
        raise StaffError("staff_role", roles=", ".join(ROLES))
    if "@" not in email:
        raise StaffError("staff_email")
    if len(password) < MIN_PASSWORD:
        raise StaffError("staff_password", minimum=MIN_PASSWORD)
    hashed = await off_loop(_hasher.hash, password)
    async with services.store.transaction() as tx:
        if not await tx.create_staff(email, role, hashed, services.clock(), one_time):
            raise StaffError("staff_exists", email=email)
        await tx.add_staff_audit(actor, f"add:{role}", email.lower(), services.clock(), address)


ACCOUNT_ACTIONS = ("make_admin", "make_agent", "disable", "enable", "reset_password", "unlock")


async def change_staff(
    services: Services, actor: str, email: str, action: str, address: str | None = None
) -> str | None:
    """An admin's change to an account; a new one-time password for
    ``reset_password`` (shown once, never stored in clear, to be changed at
    the next login). ``unlock`` lifts a lock from failed logins (the
    address's own count stays). Nobody changes or locks out their own account
    here, and the last active admin stays one."""
    if action not in ACCOUNT_ACTIONS:
        raise StaffError("staff_action", action=action[:40])
    now = services.clock()
    password = secrets.token_urlsafe(12) if action == "reset_password" else None
    hashed = await off_loop(_hasher.hash, password) if password else None
    async with services.store.transaction() as tx:
        account = await tx.staff_by_email(email)
        if account is None:
            raise StaffError("staff_unknown", email=email)
        if account.email == actor.lower():
            raise StaffError("staff_own")
        if (
            action in ("make_agent", "disable")
            and account.role == "admin"
            and not account.disabled_at
            and not await tx.other_active_admins(account.id)
        ):
            raise StaffError("last_admin")
        if action == "make_admin":
            await tx.update_staff(account.id, role="admin")
        elif action == "make_agent":
            await tx.update_staff(account.id, role="agent")
        elif action == "disable":
            await tx.update_staff(account.id, disabled_at=now)
            # Their chats go back to the queue: nobody else could answer them.
            for chat in await tx.return_chats_of(account.email, now):
                await tx.add_chat_event(chat, actor, "returned_to_queue", account.email, now)
        elif action == "enable":
            await tx.update_staff(account.id, disabled_at=None)
        elif action == "unlock":
            await tx.set_staff_login_state(account.id, 0, None)
        else:
            await tx.update_staff(account.id, password_hash=hashed, must_change_password=True)
        if action in ("make_agent", "disable", "reset_password"):
            await tx.end_sessions_of(account.id)  # takes effect at once
        await tx.add_staff_audit(actor, action, account.email, now, address)
    return password


async def change_own_password(
    services: Services,
    session: Session,
    current: str,
    new: str,
    address: str | None = None,
) -> None:
    """Anyone's change of their own password: the current one first (a
    session left open is not enough to take the account over), then a new one
    long enough and not the same. The account's other sessions end; this one
    goes on, and a one-time password's duty to change is met."""
    if len(new) < MIN_PASSWORD:
        raise StaffError("staff_password", minimum=MIN_PASSWORD)
    if new == current:
        raise StaffError("password_same")
    async with services.store.transaction(readonly=True) as tx:
        account = await tx.staff_by_email(session.email)
    if account is None or not await off_loop(_verify, account.password_hash, current):
        raise StaffError("password_wrong")
    hashed = await off_loop(_hasher.hash, new)
    async with services.store.transaction() as tx:
        fresh = await tx.staff_by_email(session.email)
        if fresh is None or fresh.password_hash != account.password_hash:
            raise StaffError("password_wrong")  # changed meanwhile: ask again
        await tx.update_staff(account.id, password_hash=hashed, must_change_password=False)
        await tx.end_sessions_of(account.id, keep=session.id_hash)
        await tx.add_staff_audit(
            account.email, "password_changed", account.email, services.clock(), address
        )


async def ensure_first_admin(services: Services) -> str | None:
    """On a database with no staff: one admin with a fresh password, returned
    once to be shown once. None when staff exist.

    Servers started at the same moment on an empty database race here: the
    check and the insert share one write transaction, so exactly one of them
    creates the admin (and shows a password) and the others see it."""
    async with services.store.transaction(readonly=True) as tx:
        if await tx.count_staff():
            return None  # the usual start: no hashing for nothing
    password = secrets.token_urlsafe(12)
    hashed = await off_loop(_hasher.hash, password)
    async with services.store.transaction() as tx:
        if await tx.count_staff():
            return None
        await tx.create_staff("admin@localhost", "admin", hashed, services.clock(), True)
        await tx.add_staff_audit("system", "add:admin", "admin@localhost", services.clock())
    return password


class LoginRefused(Exception):
    """Wrong email or password, or locked: one message for all of them."""


class LoginBusy(Exception):
    """Too many logins at once: nothing was checked, try again in a moment."""


def _locked(until: datetime | None, now: datetime) -> bool:
    return until is not None and now < until


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def log_in(services: Services, email: str, password: str, address: str) -> str:
    """A new session's cookie value for correct credentials.

    Every refusal costs the same (one argon2 check, the same slowdown, the
    same writes) whether the email is unknown, the account disabled or locked
    or the password wrong, so neither the answer nor its time tells which
    staff emails exist. Failures are counted in place, and whether to let
    someone in is decided again in the write transaction that records it:
    parallel guesses neither lose counts nor slip past a lock set meanwhile.
    """
    now = services.clock()
    async with services.store.transaction(readonly=True) as tx:
        account = await tx.staff_by_email(email)
        by_address = await tx.login_failures(address)
    known = account.email if account is not None else None  # for the audit only
    if account is not None and account.disabled_at:
        account = None  # a disabled account answers exactly like an unknown one
    locked = (account is not None and _locked(account.locked_until, now)) or bool(
        by_address and _locked(by_address.locked_until, now)
    )
    usable = account is not None and not locked
    if by_address and by_address.failures >= SLOW_AFTER:
        # Guessing gets slow before it gets locked; by the address's count
        # only, as the account's own would tell that the account exists.
        await asyncio.sleep(SLOWDOWN_SECONDS)
    stored = account.password_hash if account is not None and usable else _DUMMY
    try:
        ok = await off_loop_or_busy(LOGIN_QUEUE, _verify, stored, password) and usable
    except Busy:
        raise LoginBusy() from None
    now = services.clock()
    async with services.store.transaction() as tx:
        if ok and account is not None:
            fresh = await tx.staff_by_email(email)
            fresh_address = await tx.login_failures(address)
            if (
                fresh is not None
                and fresh.id == account.id
                and fresh.password_hash == stored
                and not fresh.disabled_at
                and not _locked(fresh.locked_until, now)
                and not (fresh_address and _locked(fresh_address.locked_until, now))
            ):
                await tx.set_staff_login_state(account.id, 0, None)
                await tx.set_login_failures(address, 0, None, now)
                await tx.note_staff_login(account.id, now)
                await tx.add_access_log("login", account.email, "", address, now)
                cookie = secrets.token_urlsafe(32)
                await tx.create_session(
                    hash_token(cookie), account.id, secrets.token_urlsafe(32), "id", now
                )
                return cookie
        # Refused (a right password meeting a lock counts too): committed, then
        # refused; the lock follows the counted value, not the value read above.
        failures, until = await tx.add_login_failure(address, now)
        if failures >= LOCK_AFTER and not _locked(until, now):
            await tx.set_login_failures(address, failures, now + LOCK_FOR, now)
            locked = True
        locked = locked or _locked(until, now)
        if account is not None:
            failures, until = await tx.add_staff_login_failure(account.id)
            if failures >= LOCK_AFTER and not _locked(until, now):
                await tx.set_staff_login_state(account.id, failures, now + LOCK_FOR)
                locked = True
            locked = locked or _locked(until, now)
        kind = "login_locked" if locked else "login_failed"
        await tx.add_access_log(kind, known, "", address, now)
    raise LoginRefused()


async def session_for(services: Services, cookie: str | None, touch: bool = True) -> Session | None:
    """The live session of ``cookie``; ``touch`` counts this as activity (an open
    event stream does not, or a forgotten tab would never time out)."""
    if not cookie:
        return None
    now = services.clock()
    id_hash = hash_token(cookie)
    async with services.store.transaction() as tx:
        found = await tx.get_session(id_hash)
        if found is None:
            return None
        if now - found.last_seen_at > IDLE_LIMIT:
            await tx.delete_session(id_hash)
            return None
        if touch:
            await tx.touch_session(id_hash, now, None)
    return Session(
        id_hash,
        found.staff_id,
        found.email,
        found.role,
        found.csrf,
        found.language,
        found.must_change_password,
    )
