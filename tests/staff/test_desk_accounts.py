"""Staff accounts at the use-case level (issue 12): a one-time password must
be changed, everyone changes their own password by giving the current one,
admins unlock an account locked by failed logins, and logins are kept with
their address for the audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from bot.conversation.engine import Engine
from bot.services import Services
from bot.staff import accounts as staff
from bot.staff.accounts import (
    LOCK_AFTER,
    LoginRefused,
    Session,
    StaffError,
    add_staff,
    change_own_password,
    change_staff,
    ensure_first_admin,
    log_in,
    session_for,
)
from bot.store.interface.desk import AUDIT_KINDS
from tests.cli.test_cli import run
from tests.raw import sql

PASSWORD = "kata-sandi-yang-panjang"
NEW = "kata-sandi-baru-milik-ani"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(staff, "_hasher", hasher)
    monkeypatch.setattr(staff, "_DUMMY", hasher.hash("dummy"))


async def _session(services: Services, email: str, password: str = PASSWORD) -> Session:
    cookie = await log_in(services, email, password, "10.0.0.7")
    found = await session_for(services, cookie)
    assert found is not None
    return found


async def test_a_one_time_password_must_be_changed_and_a_chosen_one_need_not(
    engine: Engine,
) -> None:
    services = engine.services
    await add_staff(services, "ani@jovapos.test", "agent", PASSWORD, actor="boss", one_time=True)
    await add_staff(services, "budi@jovapos.test", "agent", PASSWORD)
    assert (await _session(services, "ani@jovapos.test")).must_change_password
    assert not (await _session(services, "budi@jovapos.test")).must_change_password
    # An admin's new password is one-time too, and so is the first admin's.
    await add_staff(services, "boss@jovapos.test", "admin", PASSWORD)
    made = await change_staff(services, "boss@jovapos.test", "budi@jovapos.test", "reset_password")
    assert made and (await _session(services, "budi@jovapos.test", made)).must_change_password


async def test_the_first_admin_made_at_start_must_change_its_password(engine: Engine) -> None:
    password = await ensure_first_admin(engine.services)
    assert password is not None
    assert (await _session(engine.services, "admin@localhost", password)).must_change_password


async def test_changing_ones_own_password(engine: Engine) -> None:
    services = engine.services
    await add_staff(services, "ani@jovapos.test", "agent", PASSWORD, one_time=True)
    here = await _session(services, "ani@jovapos.test")
    elsewhere = await _session(services, "ani@jovapos.test")
    refusals = [
        ("salah-sekali-kata-sandinya", NEW, "password_wrong"),
        (PASSWORD, "pendek", "staff_password"),
        (PASSWORD, PASSWORD, "password_same"),
    ]
    for current, new, key in refusals:
        with pytest.raises(StaffError) as refused:
            await change_own_password(services, here, current, new, "10.0.0.7")
        assert refused.value.key == key
    assert (await _session(services, "ani@jovapos.test")).must_change_password  # nothing changed

    await change_own_password(services, here, PASSWORD, NEW, "10.0.0.7")
    # This session goes on (and need change nothing more); the other one ended.
    async with services.store.transaction(readonly=True) as tx:
        kept = await tx.get_session(here.id_hash)
        ended = await tx.get_session(elsewhere.id_hash)
        history = await tx.staff_audit(1)
    assert kept is not None and not kept.must_change_password and ended is None
    assert (history[0].action, history[0].actor, history[0].address) == (
        "password_changed",
        "ani@jovapos.test",
        "10.0.0.7",
    )
    with pytest.raises(LoginRefused):
        await log_in(services, "ani@jovapos.test", PASSWORD, "10.0.0.8")
    assert not (await _session(services, "ani@jovapos.test", NEW)).must_change_password


async def test_an_admin_unlocks_an_account_locked_by_failed_logins(engine: Engine) -> None:
    services = engine.services
    await add_staff(services, "boss@jovapos.test", "admin", PASSWORD)
    await add_staff(services, "ani@jovapos.test", "agent", PASSWORD)
    for attempt in range(LOCK_AFTER):
        with pytest.raises(LoginRefused):  # from different addresses: the account locks
            await log_in(services, "ani@jovapos.test", "salah", f"10.0.1.{attempt}")
    with pytest.raises(LoginRefused):  # the right password meets the lock
        await log_in(services, "ani@jovapos.test", PASSWORD, "10.0.2.1")
    await change_staff(
        services, "boss@jovapos.test", "ani@jovapos.test", "unlock", address="10.0.0.1"
    )
    async with services.store.transaction(readonly=True) as tx:
        account = await tx.staff_by_email("ani@jovapos.test")
        history = await tx.staff_audit(1)
    assert account is not None and account.locked_until is None and account.failed_logins == 0
    assert (history[0].action, history[0].address) == ("unlock", "10.0.0.1")
    await _session(services, "ani@jovapos.test")  # in again


async def test_logins_are_kept_with_their_address_and_the_last_login_is_shown(
    engine: Engine,
) -> None:
    services, clock = engine.services, engine.services.clock
    await add_staff(services, "ani@jovapos.test", "agent", PASSWORD)
    await add_staff(services, "rudi@jovapos.test", "agent", PASSWORD)
    await change_staff(services, "cli", "rudi@jovapos.test", "disable")
    await _session(services, "ani@jovapos.test")
    for email in ("ani@jovapos.test", "siapa@jovapos.test", "rudi@jovapos.test"):
        with pytest.raises(LoginRefused):
            await log_in(services, email, "salah", "10.0.0.9")
    for _ in range(LOCK_AFTER):  # the address locks on its fifth failure
        with pytest.raises(LoginRefused):
            await log_in(services, "ani@jovapos.test", "salah", "10.0.0.5")
    async with services.store.transaction(readonly=True) as tx:
        lines = await tx.audit_lines(("login", "login_failed", "login_locked"), 20, 0)
        ani = await tx.staff_by_email("ani@jovapos.test")
    seen = [(line.kind, line.actor, line.address) for line in reversed(lines)]
    assert seen == [
        ("login", "ani@jovapos.test", "10.0.0.7"),
        ("login_failed", "ani@jovapos.test", "10.0.0.9"),
        ("login_failed", None, "10.0.0.9"),  # no account: what was typed is not kept
        ("login_failed", "rudi@jovapos.test", "10.0.0.9"),  # disabled, still named here
        *[("login_failed", "ani@jovapos.test", "10.0.0.5")] * 3,
        *[("login_locked", "ani@jovapos.test", "10.0.0.5")] * 2,  # the 4th counted 5 for ani
    ]
    assert ani is not None and ani.last_login_at == clock()
    assert set(AUDIT_KINDS) >= {kind for kind, _, _ in seen}


def test_a_password_made_on_the_command_line_is_changed_at_the_first_login(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    added = run(
        data_dir, "staff", "add", "ani@jovapos.test", "--role", "agent", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    rows = sql(
        data_dir / "privacybot.db",
        "SELECT must_change_password FROM staff WHERE email = 'ani@jovapos.test'",
    )
    assert rows == [(1,)]  # the session then carries it (see the tests above)
