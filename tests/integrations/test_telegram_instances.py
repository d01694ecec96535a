"""Two servers on one database with Telegram in long-polling mode: one polls
(the holder of the polling lease), the other stands by and takes over when
the first stops renewing it. Telegram itself refuses two concurrent
getUpdates (409 Conflict), which the fake reproduces and counts."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.core import Core
from integrations.telegram import POLL_LEASE_SECONDS, TelegramAdapter
from tests.conftest import FakeClock, telegram_settings
from tests.fakes.telegram_api import FakeTelegram
from tests.raw import sql
from tests.server import running_server

CHAT = 4242


def adapter(core: Core) -> list[TelegramAdapter]:
    made = TelegramAdapter(core)
    made.standby_seconds = 0.05  # a standby asks again at once, for the test's sake
    return [made]


def handled(database: Path, update: dict) -> int:
    key = f"message:{CHAT}:{update['message']['message_id']}"
    ((count,),) = sql(
        database, "SELECT count(*) FROM inbound_messages WHERE external_id = ?", (key,)
    )
    return int(count)


async def until_handled(database: Path, update: dict, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not handled(database, update):
        assert asyncio.get_running_loop().time() < deadline, "update not handled"
        await asyncio.sleep(0.02)


async def test_one_of_two_servers_polls_and_the_other_takes_over_when_it_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    caplog.set_level("INFO", logger="integrations.telegram")
    async with FakeTelegram() as fake, AsyncExitStack() as both:
        settings = telegram_settings(tmp_path / "data", fake, public_url="")
        first_stack = AsyncExitStack()
        first = await first_stack.enter_async_context(
            running_server(settings, adapters=adapter, clock=clock)
        )
        second = await both.enter_async_context(
            running_server(settings, adapters=adapter, clock=clock)
        )
        database = settings.database_path
        try:
            for n in range(5):
                update = fake.stamp(fake.text_update(CHAT, "halo" if n % 2 else "bantuan"))
                fake.push_update(update)
                await until_handled(database, update)
                assert handled(database, update) == 1
            await asyncio.sleep(0.3)  # the standby asked several times meanwhile
            assert fake.poll_conflicts == 0
            assert "this one stands by" in caplog.text

            # The first stops polling without giving the lease up (as if it
            # were killed): the second waits for the lease to run out.
            (polling,) = first.core.channels.adapters
            assert polling._poller is not None
            polling._poller.cancel()
            update = fake.stamp(fake.text_update(CHAT, "halo"))
            fake.push_update(update)
            await asyncio.sleep(0.3)
            assert handled(database, update) == 0
            clock.advance(seconds=POLL_LEASE_SECONDS + 1)
            await until_handled(database, update)
            assert "taken over by this instance" in caplog.text
            assert fake.poll_conflicts == 0
            assert second.core.instance != first.core.instance
        finally:
            await first_stack.aclose()
