"""Hand-overs announced in the staff Telegram group: through the real server
and PTB to the fake Bot API, with no personal data, once each."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.conversation.engine import Engine
from bot.core import Core
from bot.delivery.channels import ChannelAdapter, Sent
from bot.delivery.staff_alerts import CLAIM, MAX_AGE, AnnounceFailed, announce_due
from bot.domain.models import Channel, OutboundMessage
from bot.settings import load_settings
from bot.staff.chats import claim
from tests.conftest import Chat, FakeClock, telegram_settings
from tests.server import running_server

STAFF_GROUP = -1001234567890


async def test_an_escalation_on_telegram_is_announced_in_the_staff_group(
    tmp_path: Path, clock: FakeClock
) -> None:
    from integrations.telegram import TelegramAdapter
    from tests.fakes.telegram_api import FakeTelegram

    async with FakeTelegram() as tg:
        settings = telegram_settings(
            tmp_path / "data",
            tg,
            public_url="https://bot.jovapos.test",
            telegram_staff_chat_id=str(STAFF_GROUP),
        )
        async with running_server(settings, lambda core: [TelegramAdapter(core)], clock) as server:
            for line in ("/start", "2", "Budi Santoso", "staf"):
                before = len(tg.sent)
                tg.push_update(tg.text_update(777, line))
                await tg.wait_for_sent(before + 1)

            async def group_posts() -> list[dict]:
                for _ in range(200):
                    posts = [m for m in tg.sent if m.get("chat_id") == STAFF_GROUP]
                    if posts:
                        return posts
                    await asyncio.sleep(0.05)
                return []

            posts = await group_posts()
            assert len(posts) == 1
            text = posts[0]["text"]
            async with server.core.services.store.transaction() as tx:
                conversation = await tx.get_conversation(Channel.TELEGRAM, "777")
            assert conversation is not None
            link = f"https://bot.jovapos.test/console/chats/{conversation.id}"
            assert f"#{conversation.id}" in text and "Telegram" in text and link in text
            assert "pelanggan minta bicara dengan staf" in text
            assert "Budi" not in text and "777" not in text.replace(link, "")
            markup = posts[0]["reply_markup"]
            markup = json.loads(markup) if isinstance(markup, str) else markup
            assert markup["inline_keyboard"][0][0]["url"] == link
            await asyncio.sleep(2.5)  # another round of the announcer: nothing new
            assert len([m for m in tg.sent if m.get("chat_id") == STAFF_GROUP]) == 1


class Recorder(ChannelAdapter):
    """A staff group that records what it is told (the logic of the worker)."""

    name = "recorder"
    channels = ()

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []
        self.down = False

    @property
    def alerts_staff(self) -> bool:
        return True

    async def alert_staff(self, text: str, link: str) -> None:
        if self.down:
            raise ConnectionError("group unreachable")
        self.posts.append((text, link))

    async def send(self, replies: Sequence[OutboundMessage]) -> list[Sent]:
        return []


async def test_announcements_skip_answered_chats_retry_and_age_out(
    engine: Engine, clock: FakeClock
) -> None:
    core = Core(engine.services.settings)
    core.attach(engine)
    group = Recorder()
    core.channels.adapters.append(group)
    first, second, third = (Chat(engine, address=a) for a in ("a1", "a2", "a3"))
    await first.script("staf")
    await second.script("halo", "xx yy", "zz")  # unplaceable twice
    group.down = True
    with pytest.raises(AnnounceFailed):  # nothing lost: tried again later
        await announce_due(core.services, core.channels)
    group.down = False
    assert await announce_due(core.services, core.channels) == 2
    assert await announce_due(core.services, core.channels) == 0  # each once
    assert "bot tidak memahami pesan pelanggan" in group.posts[1][0]
    assert group.posts[0][1].endswith("/console/chats/1")
    # Claimed before anyone announced it: nothing to say.
    await third.script("staf")
    async with engine.services.store.transaction(readonly=True) as tx:
        c3 = await tx.get_conversation(Channel.TERMINAL, "a3")
    assert c3 is not None
    await claim(core.services, core.channels, c3.id, "ani@jovapos.test")
    assert await announce_due(core.services, core.channels) == 0
    # After a long outage, day-old hand-overs are not announced any more.
    await first.script("menu", "staf")
    clock.advance(hours=25)
    assert await announce_due(core.services, core.channels) == 0


async def test_english_staff_desk_gets_english_posts(engine: Engine, tmp_path: Path) -> None:
    engine.services.settings = load_settings(
        environ={},
        data_dir=str(tmp_path / "other"),
        public_url="https://bot.jovapos.test",
        default_language="en",
    )
    core = Core(engine.services.settings)
    core.attach(engine)
    group = Recorder()
    core.channels.adapters.append(group)
    await Chat(engine, address="b1").script("staf")
    assert await announce_due(core.services, core.channels) == 1
    assert "the customer asked for a person" in group.posts[0][0]


async def test_an_unreachable_group_is_retried_less_often_and_reported_once(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.delivery.staff_alerts import run_announcer

    core = Core(engine.services.settings)
    core.attach(engine)
    group = Recorder()
    group.down = True
    core.channels.adapters.append(group)
    await Chat(engine, address="c1").script("staf")
    attempts = 0
    real = group.alert_staff

    async def counted(text: str, link: str) -> None:
        nonlocal attempts
        attempts += 1
        await real(text, link)

    group.alert_staff = counted  # type: ignore[method-assign]
    task = asyncio.create_task(run_announcer(core.services, core.channels, every=0.01))
    await asyncio.sleep(0.5)  # 0.01 doubling: about 5 tries in half a second, not 50
    assert 3 <= attempts <= 7
    failing = [r for r in caplog.records if "staff announcements failing" in r.message]
    assert len(failing) == 1
    group.down = False
    for _ in range(100):
        if group.posts:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    assert len(group.posts) == 1


async def test_instances_announce_each_hand_over_once_and_take_over_a_dead_ones(
    engine: Engine, clock: FakeClock
) -> None:
    """Two instances' announcers at once post each hand-over once; what an
    instance claimed and never posted (it died) is posted by another once
    its claim ran out."""
    instances = []
    for _ in range(2):
        core = Core(engine.services.settings)
        core.attach(engine)
        group = Recorder()
        core.channels.adapters.append(group)
        instances.append((core, group))
    for n in range(6):
        await Chat(engine, address=f"d{n}").script("staf")
    posted = await asyncio.gather(
        *(announce_due(core.services, core.channels) for core, _ in instances)
    )
    assert sum(posted) == 6
    links = [link for _, group in instances for _, link in group.posts]
    assert len(links) == len(set(links)) == 6
    await Chat(engine, address="d9").script("staf")
    now = clock()
    async with engine.services.store.transaction() as tx:  # claimed, then the instance died
        dead = await tx.claim_escalations(now - MAX_AGE, now, now + CLAIM, 10)
    assert len(dead) == 1
    core, group = instances[0]
    assert await announce_due(core.services, core.channels) == 0
    clock.advance(seconds=CLAIM.total_seconds() + 1)
    assert await announce_due(core.services, core.channels) == 1
