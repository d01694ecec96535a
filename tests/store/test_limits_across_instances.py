"""Counters that protect people hold when the attempts are spread over
several instances on one database (two engines here, each with its own
store: its own connection, or pool of them): login failures and lockouts,
and email codes per mailbox. (Download-code attempts are counted by the same
kind of unit of work, one that runs alone among writers.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from bot.app import open_engine
from bot.conversation.engine import Engine
from bot.settings import load_settings
from bot.staff import accounts as staff
from bot.staff.accounts import LoginRefused, add_staff, log_in
from tests.conftest import FakeClock

PASSWORD = "kata-sandi-yang-panjang"


@pytest.fixture
async def two(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Engine, Engine]]:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    async with open_engine(settings, clock=clock) as a, open_engine(settings, clock=clock) as b:
        yield a, b


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(staff, "_hasher", hasher)
    monkeypatch.setattr(staff, "_DUMMY", hasher.hash("dummy"))


async def test_wrong_passwords_spread_over_instances_lock_the_account_for_all(
    two: tuple[Engine, Engine], cheap_hashes: None
) -> None:
    a, b = two
    assert a.services.store is not b.services.store
    await add_staff(a.services, "ani@jovapos.test", "agent", PASSWORD)
    guesses = [
        log_in((a, b)[i % 2].services, "ani@jovapos.test", f"tebakan-{i}", "10.0.0.1")
        for i in range(30)
    ]
    results = await asyncio.gather(*guesses, return_exceptions=True)
    assert all(isinstance(r, LoginRefused) for r in results)
    async with b.services.store.transaction(readonly=True) as tx:
        account = await tx.staff_by_email("ani@jovapos.test")
        by_address = await tx.login_failures("10.0.0.1")
    assert account is not None and by_address is not None
    assert (account.failed_logins, by_address.failures) == (30, 30)  # every one counted
    assert account.locked_until is not None and by_address.locked_until is not None
    for engine in (a, b):  # locked on every instance: the right password does not open it
        with pytest.raises(LoginRefused):
            await log_in(engine.services, "ani@jovapos.test", PASSWORD, "10.0.0.2")


async def test_code_mails_per_mailbox_hold_across_instances(
    two: tuple[Engine, Engine], clock: FakeClock
) -> None:
    """Thirty code mails for one mailbox asked at once through two instances:
    exactly the hourly limit go."""
    limit = two[0].services.settings.email_codes_per_hour

    async def ask(engine: Engine) -> bool:
        async with engine.services.store.transaction() as tx:  # as arm_code takes it
            return await tx.take_code_mail("mailbox-digest", clock(), limit)

    taken = await asyncio.gather(*(ask(two[i % 2]) for i in range(30)))
    assert taken.count(True) == limit
    clock.advance(hours=1, seconds=1)
    assert await ask(two[1])  # an hour later the mailbox may get one again
