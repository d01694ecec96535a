"""Leases: work one instance at a time may do when several serve one
database; the hourly housekeeping runs on whichever holds its lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.conversation.engine import Engine
from bot.housekeeping import purge_in_turn
from bot.store import Store
from tests.conftest import FakeClock

pytestmark = pytest.mark.fast

HOUR = timedelta(hours=1)


async def take(store: Store, holder: str, clock: FakeClock) -> bool:
    async with store.transaction() as tx:
        return await tx.take_lease("job", holder, clock(), clock() + HOUR)


async def test_a_lease_is_held_renewed_by_its_holder_and_passed_on_when_it_expires(
    engine: Engine, clock: FakeClock
) -> None:
    store = engine.services.store
    assert await take(store, "a", clock)
    assert not await take(store, "b", clock)
    clock.advance(minutes=59)
    assert await take(store, "a", clock)  # renewed: an hour from now
    clock.advance(minutes=59)
    assert not await take(store, "b", clock)
    clock.advance(minutes=1)
    assert await take(store, "b", clock)  # a stopped renewing it
    assert not await take(store, "a", clock)


async def test_instances_asking_at_once_get_the_lease_once(
    engine: Engine, clock: FakeClock
) -> None:
    won = await asyncio.gather(*(take(engine.services.store, f"i{n}", clock) for n in range(30)))
    assert sum(won) == 1


async def test_housekeeping_runs_on_one_instance_per_round(
    engine: Engine, clock: FakeClock
) -> None:
    services = engine.services
    rounds = await asyncio.gather(
        *(purge_in_turn(services, engine, f"instance-{n}", HOUR) for n in range(3))
    )
    assert sum(r is not None for r in rounds) == 1
    clock.advance(minutes=30)  # within the hour: nobody else
    assert await purge_in_turn(services, engine, "instance-9", HOUR) is None
    clock.advance(minutes=31)  # the holder did not come back: another takes over
    assert await purge_in_turn(services, engine, "instance-9", HOUR) is not None
