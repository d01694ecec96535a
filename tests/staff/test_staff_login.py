"""Logging in under attack: parallel guesses, floods of logins, probing for
which staff emails exist, and servers racing to create the first admin."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from bot.app import open_engine
from bot.conversation.engine import Engine
from bot.settings import load_settings
from bot.staff import accounts as staff
from bot.staff.accounts import LoginRefused, add_staff, change_staff, ensure_first_admin, log_in
from tests.conftest import FakeClock
from tests.server import running_server

PASSWORD = "kata-sandi-yang-panjang"


def _hash_with(monkeypatch: pytest.MonkeyPatch, hasher: PasswordHasher) -> None:
    monkeypatch.setattr(staff, "_hasher", hasher)
    monkeypatch.setattr(staff, "_DUMMY", hasher.hash("dummy"))


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost, for tests of counting rather than of time."""
    _hash_with(monkeypatch, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at a few tens of milliseconds: still far above a database round
    trip, as the real cost is, so timing tests see what a check costs."""
    _hash_with(monkeypatch, PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1))


async def _counters(engine: Engine, email: str, address: str) -> tuple[int, bool, int, bool]:
    """(account failures, account locked, address failures, address locked)."""
    async with engine.services.store.transaction(readonly=True) as tx:
        account = await tx.staff_by_email(email)
        by_address = await tx.login_failures(address)
    assert account is not None and by_address is not None
    return (
        account.failed_logins,
        account.locked_until is not None,
        by_address.failures,
        by_address.locked_until is not None,
    )


async def test_parallel_wrong_passwords_are_each_counted_and_lock(
    engine: Engine, cheap_hashes: None
) -> None:
    await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)
    guesses = [
        log_in(engine.services, "ani@jovapos.test", f"tebakan-{i}", "10.0.0.1") for i in range(30)
    ]
    results = await asyncio.gather(*guesses, return_exceptions=True)
    assert all(isinstance(r, LoginRefused) for r in results)
    assert await _counters(engine, "ani@jovapos.test", "10.0.0.1") == (30, True, 30, True)
    with pytest.raises(LoginRefused):  # locked: the right password does not open it
        await log_in(engine.services, "ani@jovapos.test", PASSWORD, "10.0.0.2")


async def test_a_right_password_after_the_lock_among_parallel_guesses_is_refused(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, cheap_hashes: None
) -> None:
    monkeypatch.setattr(staff, "LOGIN_QUEUE", 100)  # all sixty are checked, none told "busy"
    await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)
    wrong = [
        log_in(engine.services, "ani@jovapos.test", f"tebakan-{i}", "10.0.0.1") for i in range(59)
    ]
    right = log_in(engine.services, "ani@jovapos.test", PASSWORD, "10.0.0.1")  # arrives last
    results = await asyncio.gather(*wrong, right, return_exceptions=True)
    # The right one is decided when fifty-odd failures were already counted.
    assert isinstance(results[-1], LoginRefused)
    assert all(isinstance(r, LoginRefused) for r in results)
    assert await _counters(engine, "ani@jovapos.test", "10.0.0.1") == (60, True, 60, True)


async def test_refusals_cost_the_same_whether_the_email_exists_or_not(
    engine: Engine, quick_hashes: None
) -> None:
    await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)
    await add_staff(engine.services, "budi@jovapos.test", "agent", PASSWORD)
    await add_staff(engine.services, "boss@jovapos.test", "admin", PASSWORD)
    await change_staff(engine.services, "boss@jovapos.test", "budi@jovapos.test", "disable")
    for i in range(5):
        with pytest.raises(LoginRefused):
            await log_in(engine.services, "ani@jovapos.test", "salah", f"lock-{i}")
    cases = {
        "unknown": ("nobody@jovapos.test", PASSWORD),
        "locked": ("ani@jovapos.test", PASSWORD),
        "disabled": ("budi@jovapos.test", PASSWORD),
        "wrong": ("boss@jovapos.test", "salah"),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(5):  # taken in turns, so a busy moment of the machine hits every case
        for name, (email, password) in cases.items():
            started = time.perf_counter()
            with pytest.raises(LoginRefused):
                # A fresh address each time: the address's slowdown is not measured here.
                await log_in(engine.services, email, password, f"{name}-{i}")
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(taken) for name, taken in times.items()}
    assert max(medians.values()) < 3 * min(medians.values()), medians


async def test_refusal_pages_are_the_same_for_every_reason(
    tmp_path: Path, clock: FakeClock, cheap_hashes: None
) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    async with (
        running_server(settings, clock=clock) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        engine = server.core.engine
        await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)
        for i in range(5):
            with pytest.raises(LoginRefused):
                await log_in(engine.services, "ani@jovapos.test", "salah", f"elsewhere-{i}")
        pages = []
        for email, password in (
            ("nobody@jovapos.test", PASSWORD),  # unknown
            ("ani@jovapos.test", PASSWORD),  # locked
            ("ani@jovapos.test", "salah"),  # locked and wrong
        ):
            form = await http.get("/console/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            answer = await http.post(
                "/console/login", data={"csrf": token, "email": email, "password": password}
            )
            assert answer.status_code == 401
            pages.append(re.sub(r'name="csrf" value="[^"]+"', "", answer.text))
        assert pages[0] == pages[1] == pages[2]


@pytest.mark.slow
async def test_a_flood_of_logins_does_not_stall_the_server(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    async with (
        running_server(settings, clock=clock) as server,
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
        httpx.AsyncClient(base_url=server.url, timeout=60) as probe,
    ):
        form = await http.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        flood = [
            asyncio.create_task(
                http.post(
                    "/console/login",
                    data={"csrf": token, "email": f"x{i}@jovapos.test", "password": "salah"},
                )
            )
            for i in range(40)
        ]
        delays = []
        while not all(task.done() for task in flood):
            started = time.perf_counter()
            assert (await probe.get("/healthz")).status_code == 200
            delays.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
        statuses = {(await task).status_code for task in flood}
        assert statuses <= {401, 429}
        assert len(delays) >= 3 and max(delays) < 1.0, delays


async def test_a_flood_beyond_the_queue_is_told_to_come_back(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staff, "LOGIN_QUEUE", 2)  # real hashes: the queue must fill
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    async with (
        running_server(settings, clock=clock) as server,
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
    ):
        form = await http.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        answers = await asyncio.gather(
            *(
                http.post(
                    "/console/login",
                    data={"csrf": token, "email": f"x{i}@jovapos.test", "password": "salah"},
                )
                for i in range(12)
            )
        )
        busy = [a for a in answers if a.status_code == 429]
        assert busy and all(a.status_code in (401, 429) for a in answers)
        text = server.core.services.catalogue.text("id", "console.login_busy")
        assert text in busy[0].text and busy[0].headers["retry-after"]


async def test_servers_starting_together_create_one_first_admin(
    tmp_path: Path, clock: FakeClock, cheap_hashes: None
) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    async with open_engine(settings, clock=clock) as first:
        async with open_engine(settings, clock=clock) as second:  # its own connection
            passwords = await asyncio.gather(
                ensure_first_admin(first.services), ensure_first_admin(second.services)
            )
        assert len([p for p in passwords if p]) == 1
        async with first.services.store.transaction(readonly=True) as tx:
            accounts = await tx.list_staff()
        assert [(a.email, a.role) for a in accounts] == [("admin@localhost", "admin")]
        password = next(p for p in passwords if p)
        assert await log_in(first.services, "admin@localhost", password, "10.0.0.9")
