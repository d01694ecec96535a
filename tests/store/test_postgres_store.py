"""The PostgreSQL store: the schema SQLite's history built, Python's
casefold, and the locks that let several instances share one database
(each ``PostgresStore`` here has its own pool of connections, as each
server process has)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, inspect

from bot.domain.models import Channel
from bot.settings import SettingsError, load_settings
from bot.store import open_store
from bot.store.postgres.store import PostgresStore
from bot.store.schema import HEAD, sqlalchemy_url, upgrade
from bot.store.sqlite import SQLiteStore
from flows.types import RequestStatus, RequestType

pytestmark = pytest.mark.own_database  # PostgreSQL and SQLite both, by name

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
SOON = 0.3  # seconds a unit that does not wait takes at most to begin


@pytest.fixture
async def instances(postgres_database: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two instances on one database."""
    a, b = PostgresStore(postgres_database), PostgresStore(postgres_database)
    await a.open()
    await b.open()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def _shape(url: str) -> dict[str, Any]:
    """Tables, their columns (name, kind, nullable, has a default), keys and indexes."""
    engine = create_engine(sqlalchemy_url(url))
    try:
        seen = inspect(engine)
        shape = {}
        for table in sorted(set(seen.get_table_names()) - {"schema_migrations"}):
            primary = tuple(seen.get_pk_constraint(table)["constrained_columns"])
            columns = [
                # (SQLite reports an INTEGER PRIMARY KEY nullable: it is not.)
                (
                    c["name"],
                    _kind(str(c["type"])),
                    c["nullable"] and c["name"] not in primary,
                    c["default"] is not None,
                )
                for c in seen.get_columns(table)
            ]
            uniques = sorted(tuple(u["column_names"]) for u in seen.get_unique_constraints(table))
            indexes = sorted(
                (i["name"], tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                for i in seen.get_indexes(table)
                # (PostgreSQL's index behind a UNIQUE; an index on an expression,
                # which SQLAlchemy reads on PostgreSQL only: compared by name below.)
                if not i["name"].endswith("_key") and None not in i["column_names"]
            )
            foreign = sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in seen.get_foreign_keys(table)
            )
            shape[table] = (columns, primary, uniques, indexes, foreign)
        return shape
    finally:
        engine.dispose()


def _kind(type_name: str) -> str:
    upper = type_name.upper()
    for word, kind in (("INT", "integer"), ("TEXT", "text"), ("CHAR", "text")):
        if word in upper:
            return kind
    return upper


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection")
async def test_both_backends_have_the_same_tables_columns_keys_and_indexes(
    tmp_path: Path, postgres_database: str
) -> None:
    async with SQLiteStore(tmp_path / "s.db"):
        pass
    async with PostgresStore(postgres_database) as store:
        assert store.applied == list(range(19, int(HEAD) + 1))
        assert await store.schema_version() == int(HEAD)
    sqlite, postgres = _shape(f"sqlite:///{tmp_path / 's.db'}"), _shape(postgres_database)
    assert list(sqlite) == list(postgres)
    assert len(sqlite) == 30  # 29 tables and alembic_version
    for table in sqlite:
        assert sqlite[table] == postgres[table], table
    with sqlite3.connect(tmp_path / "s.db") as db:
        lite = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    with psycopg.connect(postgres_database) as conn:
        pg = {
            r[0]
            for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        }
    # SQLite names the indexes behind keys sqlite_autoindex_*, PostgreSQL *_key and *_pkey.
    assert {n for n in lite if not n.startswith("sqlite_")} == {
        n for n in pg if not n.endswith(("_key", "_pkey", "_pkc"))
    }


def test_casefold_in_postgresql_is_pythons(postgres_database: str) -> None:
    upgrade(postgres_database)
    folding = "".join(
        chr(p)
        for p in range(sys.maxunicode + 1)
        if not 0xD800 <= p <= 0xDFFF and chr(p).casefold() != chr(p)
    )
    samples = [folding, "STRASSE@Example.COM", "Straße", "ÖMER", "ΣΑΣ ς", "İ", "abc", ""]
    with psycopg.connect(postgres_database) as conn:
        for text in samples:
            assert conn.execute("SELECT casefold(%s)", (text,)).fetchone() == (text.casefold(),)


def test_instances_starting_together_migrate_once(postgres_database: str) -> None:
    """Three processes at once (as servers starting together): one migrates."""
    code = "import sys; from bot.store.schema import upgrade; print(upgrade(sys.argv[1]))"
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", code, postgres_database], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    applied = sorted(start.communicate(timeout=60)[0].strip() for start in starts)
    assert applied == [str(list(range(19, int(HEAD) + 1))), "[]", "[]"]
    assert all(start.returncode == 0 for start in starts)


async def _enters(unit: Any, timeout: float = SOON) -> bool:
    try:
        await asyncio.wait_for(asyncio.shield(unit), timeout)
    except TimeoutError:
        return False
    return True


class Held:
    """A unit of work entered in a task and held open until ``release``."""

    def __init__(self, store: PostgresStore, **options: Any) -> None:
        self.entered = asyncio.Event()
        self._release = asyncio.Event()
        self.task = asyncio.create_task(self._hold(store, options))

    async def _hold(self, store: PostgresStore, options: dict[str, Any]) -> None:
        async with store.transaction(**options) as tx:
            await tx.find_inbound(Channel.WHATSAPP, "probe")
            self.entered.set()
            await self._release.wait()

    async def release(self) -> None:
        self._release.set()
        await self.task


async def test_a_conversation_takes_turns_across_instances_and_others_go_side_by_side(
    instances: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = instances
    first = Held(a, key="conversation:whatsapp:+62811")
    assert await _enters(first.entered.wait())
    same = Held(b, key="conversation:whatsapp:+62811")
    other = Held(b, key="conversation:whatsapp:+62822")
    assert await _enters(other.entered.wait())  # another customer: side by side
    assert not await _enters(same.entered.wait())  # the same customer: waits its turn
    reader = Held(b, readonly=True)
    assert await _enters(reader.entered.wait())  # a reader never waits
    await first.release()
    assert await _enters(same.entered.wait())
    for held in (same, other, reader):
        await held.release()


async def test_a_unit_without_a_key_runs_alone_among_writers(
    instances: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = instances
    conversation = Held(a, key="conversation:sms:+62811")
    assert await _enters(conversation.entered.wait())
    alone = Held(b)
    assert not await _enters(alone.entered.wait())  # waits for the conversation
    await conversation.release()
    assert await _enters(alone.entered.wait())
    later = Held(a, key="conversation:sms:+62899")
    assert not await _enters(later.entered.wait())  # and conversations wait for it
    await alone.release()
    assert await _enters(later.entered.wait())
    await later.release()


async def _a_request_with_notices(store: PostgresStore, count: int) -> None:
    async with store.transaction() as tx:
        conversation = await tx.create_conversation(Channel.WHATSAPP, "+62811", "menu", "id", NOW)
        await tx.insert_request(
            reference="DEL-AAAAAA",
            type=RequestType.DELETION,
            status=RequestStatus.IN_PROGRESS,
            channel=Channel.WHATSAPP,
            customer_address="+62811",
            conversation_id=conversation.id,
            language="id",
            full_name="Siti",
            email="siti@example.com",
            reason=None,
            details={},
            now=NOW,
            due_date=date(2027, 1, 12),
        )
        for n in range(count):
            await tx.enqueue_notification(
                "DEL-AAAAAA", "completed", "whatsapp", "+62811", "id", {}, f"k{n}", NOW
            )


async def test_instances_claiming_notices_at_once_skip_each_others(
    instances: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = instances
    await _a_request_with_notices(a, 6)
    later = NOW + timedelta(minutes=1)
    claimed: dict[str, list[int]] = {}
    both_claimed = asyncio.Event()
    waiting = 0

    async def claim(store: PostgresStore, name: str, limit: int) -> None:
        nonlocal waiting
        async with store.transaction(key=f"claim:{name}") as tx:
            due = await tx.due_notifications(later, limit)
            claimed[name] = [n.id for n in due]
            waiting += 1
            if waiting == 2:
                both_claimed.set()
            await asyncio.wait_for(both_claimed.wait(), 5)  # both hold their rows at once

    await asyncio.gather(claim(a, "a", 4), claim(b, "b", 4))
    assert sorted(claimed["a"] + claimed["b"]) == sorted(set(claimed["a"] + claimed["b"]))
    assert len(claimed["a"] + claimed["b"]) == 6


def test_a_postgresql_url_selects_postgresql(tmp_path: Path) -> None:
    for url in ("postgresql://u:p@db.internal:5432/desk?sslmode=require", "postgres://u@h/d"):
        settings = load_settings(environ={"PRIVACYBOT_DATABASE_URL": url}, data_dir=str(tmp_path))
        store = open_store(settings)
        assert isinstance(store, PostgresStore) and store.url == url
    with pytest.raises(SettingsError, match="postgresql://USER:PASSWORD@HOST"):
        load_settings(environ={"PRIVACYBOT_DATABASE_URL": "mysql://x"}, data_dir=str(tmp_path))


async def test_a_commit_on_one_instance_wakes_the_console_of_another(
    instances: tuple[PostgresStore, PostgresStore],
) -> None:
    """LISTEN/NOTIFY: the console's live updates follow writes made by any
    instance, told at once rather than found by polling."""
    a, b = instances
    changes = b.activity(every=5.0)
    try:
        listening = asyncio.ensure_future(anext(changes))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)  # b listens
        started = asyncio.get_running_loop().time()
        async with a.transaction() as tx:
            await tx.create_conversation(Channel.WHATSAPP, "+62877", "menu", "id", NOW)
        assert await asyncio.wait_for(listening, 3) is True
        assert asyncio.get_running_loop().time() - started < 1.0  # not the 5 s poll
    finally:
        await changes.aclose()  # type: ignore[attr-defined]
