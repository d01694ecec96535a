"""Random message sequences never break the engine: it always answers, and
what it persists is always a state the machine knows."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import open_engine
from bot.conversation.engine import Engine
from bot.domain.models import Channel, InboundFile, InboundMessage
from bot.settings import load_settings
from tests.conftest import JPEG, PDF, PNG, FakeClock

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

WORDS = [
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "0",
    "halo",
    "hapus akun",
    "salinan data",
    "koreksi",
    "batasi",
    "status",
    "staf",
    "menu",
    "batal",
    "cancel",
    "kembali",
    "back",
    "bantuan",
    "help",
    "EN",
    "ID",
    "/en",
    "/id",
    "nanti",
    "later",
    "lewati",
    "skip",
    "lanjut",
    "ya",
    "kirim",
    "ubah",
    "Budi Santoso",
    "budi@example.com",
    "bukan email",
    "1, 5",
    "Lainnya saja",
    "DEL-7K3M9Q",
    "",
    " ",
    "😀",
    "محمد",
    "\u202e",
    "\x00",
    "x" * 4001,
]
FILES = [PNG, JPEG, PDF, b"", b"MZ not allowed", b"\xff\xd8\xff" + b"\x00" * (10 * 2**20)]

message = st.one_of(
    st.sampled_from(WORDS).map(lambda t: (t, None)),
    st.text(max_size=60).map(lambda t: (t, None)),
    st.sampled_from(FILES).map(lambda f: ("", f)),
)
step = st.tuples(message, st.sampled_from([0, 0, 0, 1, 30, 200]))  # hours to wait first


class Harness:
    def __init__(self, root: Path) -> None:
        self.runner = asyncio.Runner()
        self.clock = FakeClock()
        self._cm = open_engine(load_settings(environ={}, data_dir=str(root)), clock=self.clock)
        self.engine: Engine = self.runner.run(self._cm.__aenter__())

    def close(self) -> None:
        self.runner.run(self._cm.__aexit__(None, None, None))
        self.runner.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("prop"))
    yield h
    h.close()


@settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_random_conversations(harness: Harness, steps: list) -> None:
    engine = harness.engine
    address = uuid.uuid4().hex
    states = engine.dialogue.states

    async def run() -> None:
        for i, ((text, data), wait) in enumerate(steps):
            harness.clock.advance(hours=wait)
            files = () if data is None else (InboundFile(data, len(data), "f"),)
            replies = await engine.handle(
                InboundMessage(Channel.TERMINAL, address, f"{address}-{i}", text, files)
            )
            assert replies, (text, data and data[:8])
            assert all(r.text.strip() for r in replies)
            assert "error.state_reset" not in [r.key for r in replies]
            async with engine.services.store.transaction() as tx:
                conversation = await tx.get_conversation(Channel.TERMINAL, address)
            assert conversation is not None
            assert conversation.state in states
            assert (conversation.state == "staff") == (conversation.waiting_staff_since is not None)

    harness.runner.run(run())
