"""Shared test fixtures: a real SQLite store in a temporary folder, a clock the
test controls, and a small chat driver around the real engine."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import open_engine, shared_dialogue
from bot.catalogue import Catalogue, load_vocabulary
from bot.engine import Engine
from bot.models import Channel, InboundFile, InboundMessage, OutboundMessage
from bot.settings import Settings, load_settings

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x02" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + b"\x03" * 64


@dataclass
class FakeClock:
    """A clock that only moves when the test says so (Thursday 26 Nov 2026, 10:00 WIB)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 3, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def file_of(data: bytes, name: str = "ktp.jpg") -> InboundFile:
    return InboundFile(data=data, size=len(data), filename=name)


_ids = itertools.count(1)


class Chat:
    """One customer talking to the engine; keeps the last replies for asserts."""

    def __init__(
        self, engine: Engine, address: str = "+6281234567890", channel: Channel = Channel.TERMINAL
    ) -> None:
        self.engine = engine
        self.address = address
        self.channel = channel
        self.last: list[OutboundMessage] = []

    async def say(
        self, text: str = "", *files: InboundFile, message_id: str | None = None
    ) -> list[OutboundMessage]:
        message = InboundMessage(
            channel=self.channel,
            address=self.address,
            message_id=message_id or f"test-{next(_ids)}",
            text=text,
            files=tuple(files),
        )
        self.last = await self.engine.handle(message)
        return self.last

    @property
    def keys(self) -> list[str]:
        return [m.key for m in self.last]

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.last)

    async def script(self, *lines: str) -> None:
        for line in lines:
            await self.say(line)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, data_dir=str(tmp_path / "data"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def engine(settings: Settings, clock: FakeClock) -> AsyncIterator[Engine]:
    async with open_engine(settings, clock=clock) as eng:
        yield eng


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)


@pytest.fixture(scope="session")
def dialogue():
    return shared_dialogue()


@pytest.fixture(scope="session")
def vocabulary():
    return load_vocabulary()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.load()
