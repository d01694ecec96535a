"""Shared test fixtures: a real SQLite store in a temporary folder, a clock the
test controls, and a small chat driver around the real engine."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import io
import itertools
import os
import re
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from PIL import Image

from bot.app import open_engine, shared_dialogue
from bot.conversation.engine import Engine
from bot.domain.models import Channel, InboundFile, InboundMessage, OutboundMessage
from bot.infra.catalogue import Catalogue, load_vocabulary
from bot.infra.mail import FileMailer, Mail
from bot.settings import Settings, load_settings


def picture(fmt: str, size: tuple[int, int] = (32, 24), **options: object) -> bytes:
    """A small real image (ID proofs are decoded to strip their metadata)."""
    image = Image.new("RGB", size, (180, 90, 40))
    for x in range(size[0]):
        image.putpixel((x, x % size[1]), (10, 200, 30))
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


PNG = picture("PNG")
JPEG = picture("JPEG", quality=90)
WEBP = picture("WEBP", lossless=True)


def console_script() -> str:
    """The installed ``privacybot`` entry point, so tests run the real process."""
    sibling = Path(sys.executable).parent / "privacybot"
    if sibling.is_file():
        return str(sibling)
    found = shutil.which("privacybot")
    assert found, "the privacybot console script is not installed next to this Python"
    return found


PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + b"\x03" * 64


@dataclass
class FakeClock:
    """A clock that only moves when the test says so (Thursday 26 Nov 2026, 10:00 WIB)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 3, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def telegram_settings(
    data_dir: Path, tg: object, public_url: str = "http://127.0.0.1", **extra: object
) -> Settings:
    """Settings for a server whose Telegram is the fake Bot API ``tg``."""
    return load_settings(
        environ={},
        data_dir=str(data_dir),
        public_url=public_url,
        telegram_bot_token=tg.token,  # type: ignore[attr-defined]
        telegram_api_base_url=tg.base_url,  # type: ignore[attr-defined]
        telegram_file_base_url=tg.base_file_url,  # type: ignore[attr-defined]
        **extra,
    )


def file_of(data: bytes, name: str = "ktp.jpg") -> InboundFile:
    return InboundFile(data=data, size=len(data), filename=name)


class Inbox:
    """A real SMTP server's mailbox (aiosmtpd handler) for the tests."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def texts(self) -> list[str]:
        return [m.get_body(("plain",)).get_content() for m in self.messages]  # type: ignore[union-attr]

    def code(self) -> str:
        match = re.search(r"^(\d{6})\r?$", self.texts()[-1], re.MULTILINE)
        assert match
        return match.group(1)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on loopback: (its inbox, its port)."""
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd checks readiness on the port: pick one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


_ids = itertools.count(1)
CODE = "<code>"  # in a script: the code last mailed
_CODE_IN_MAIL = re.compile(r"^(\d{6})$", re.MULTILINE)


class Mailbox:
    """Catches the development mailer's mail, as a customer's inbox would."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []

    def __call__(self, mail: Mail) -> None:
        self.mails.append(mail)

    def latest_code(self, to: str | None = None) -> str:
        """The code of the newest mail carrying one: another request's receipt,
        sent by a background worker, may arrive after the code mail."""
        for mail in reversed(self.mails):
            if to is None or mail.to == to:
                match = _CODE_IN_MAIL.search(mail.text)
                if match:
                    return match.group(1)
        raise AssertionError("no code was mailed")


def mailbox_of(engine: Engine) -> Mailbox:
    mailer = engine.services.mailer
    assert isinstance(mailer, FileMailer)
    for listener in mailer.listeners:
        if isinstance(listener, Mailbox):
            return listener
    box = Mailbox()
    mailer.listeners.append(box)
    return box


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
        if text == CODE:
            text = mailbox_of(self.engine).latest_code()
        message = InboundMessage(
            channel=self.channel,
            address=self.address,
            message_id=message_id or f"test-{next(_ids)}",
            text=text,
            files=tuple(files),
        )
        sending = set(self.engine._mail_tasks)
        self.last = await self.engine.handle(message)
        # Like a customer, who reads the code mail next: wait for the mail this
        # message started (not for other customers' mail).
        if mine := self.engine._mail_tasks - sending:
            await asyncio.wait(mine, timeout=30)
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
        mailbox_of(eng)
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


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``-m fast`` (the quick inner loop), test modules that hold no fast
    test are not even imported: importing the server and browser tests' tools
    costs more than the fast tests take to run."""
    if config.option.markexpr != "fast" or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    return "pytest.mark.fast" not in collection_path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server's URL (``tests/postgres.py``: the one
    PRIVACYBOT_TEST_DATABASE_URL names, else a throwaway one)."""
    from tests.postgres import server

    with server() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    from tests.postgres import fresh_database

    with fresh_database(postgres_server) as url:
        yield url


# ``PRIVACYBOT_TEST_BACKEND=postgresql`` runs the suite against PostgreSQL:
# every store the application opens on its default SQLite file opens a
# database of its own on the test server instead (one per file, so a test
# that reopens its store finds its data). Tests that open SQLite by name
# (its own mechanisms) stay on SQLite.
BACKEND = os.environ.get("PRIVACYBOT_TEST_BACKEND", "sqlite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass runs what the SQLite pass did not already prove:
    not SQLite's own mechanisms, nor the tests that make their own databases
    of both kinds (they ran in the first pass)."""
    if BACKEND != "postgresql":
        return
    kept, left = [], []
    for item in items:
        once = item.get_closest_marker("sqlite_only") or item.get_closest_marker("own_database")
        (left if once else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    from tests.postgres import drop_database, migrated_template

    name = migrated_template(postgres_server)
    yield name
    drop_database(postgres_server, name)


class PostgresPass:
    """The running test's PostgreSQL databases, each standing for the SQLite
    file a store would have opened (created on first use, dropped after)."""

    def __init__(self, server: str, template: str, stack: contextlib.ExitStack) -> None:
        self.server, self.template, self.stack = server, template, stack
        self.databases: dict[Path, str] = {}

    def url_for(self, sqlite_file: Path) -> str:
        from tests.postgres import fresh_database

        key = sqlite_file.resolve()
        if key not in self.databases:
            self.databases[key] = self.stack.enter_context(
                fresh_database(self.server, self.template)
            )
        return self.databases[key]


CURRENT: list[PostgresPass] = []  # the running test's, on the PostgreSQL pass


def database_env(data_dir: Path) -> dict[str, str]:
    """What a process a test starts on ``data_dir`` needs to open the test's
    database: nothing on SQLite (the file in the folder); on the PostgreSQL
    pass, the URL of the database standing for that file."""
    if not CURRENT:
        return {}
    return {"PRIVACYBOT_DATABASE_URL": CURRENT[0].url_for(data_dir / "privacybot.db")}


@pytest.fixture(autouse=True)
def _store_backend(request: pytest.FixtureRequest) -> Iterator[None]:
    if BACKEND != "postgresql" or request.node.get_closest_marker("sqlite_only"):
        yield
        return
    import bot.app
    import bot.store
    from bot.store.postgres.store import PostgresStore

    original = bot.store.open_store
    # A patch of its own: a test's ``monkeypatch.undo()`` must not undo it.
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as monkeypatch:
        current = PostgresPass(
            request.getfixturevalue("postgres_server"),
            request.getfixturevalue("postgres_template"),
            stack,
        )

        def open_store(settings: Settings) -> bot.store.Store:
            if settings.database_url:
                return original(settings)
            url = current.url_for(settings.database_path)
            return PostgresStore(url, timeout=settings.database_busy_timeout)

        monkeypatch.setattr(bot.store, "open_store", open_store)
        monkeypatch.setattr(bot.app, "open_store", open_store)
        CURRENT.append(current)
        try:
            yield
        finally:
            CURRENT.clear()
