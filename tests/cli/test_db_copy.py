"""``privacybot db copy --to postgresql://…``: a SQLite deployment's data
moved into PostgreSQL, every table's rows counted on both sides, and the
copy working as the database of a server afterwards."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import psycopg
import pytest

from bot.app import open_engine
from bot.domain.models import Channel
from bot.settings import load_settings
from flows.types import RequestStatus, RequestType
from tests.cli.test_cli import assert_one_line_error, clean_env, run
from tests.conftest import Chat

pytestmark = [pytest.mark.slow, pytest.mark.own_database]


async def _a_deployment(data_dir: Path) -> Path:
    """A SQLite deployment with conversations, a request and staff."""
    path = data_dir / "privacybot.db"
    settings = load_settings(
        environ={"PRIVACYBOT_DATABASE_URL": f"sqlite:///{path}"}, data_dir=str(data_dir)
    )
    async with open_engine(settings) as engine:
        await Chat(engine, address="+6281111").script("halo", "hapus akun")
        await Chat(engine, address="+6282222").script("hi 👋", "status")
        async with engine.services.store.transaction() as tx:
            conversation = await tx.create_conversation(
                Channel.WHATSAPP, "+6283333", "menu", "id", engine.services.clock()
            )
            await tx.insert_request(
                reference="DEL-COPY01",
                type=RequestType.DELETION,
                status=RequestStatus.IN_PROGRESS,
                channel=Channel.WHATSAPP,
                customer_address="+6283333",
                conversation_id=conversation.id,
                language="id",
                full_name="Dewi Sartika Ñuñez",
                email="dewi@example.com",
                reason="tidak dipakai lagi",
                details={},
                now=engine.services.clock(),
                due_date=date(2027, 1, 12),
            )
    return path


def _counts_sqlite(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        names = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0] not in ("schema_migrations", "alembic_version")
            and not r[0].startswith("sqlite_")
        ]
        return {n: db.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}


def _counts_postgres(url: str, tables: list[str]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {n: conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in tables}  # type: ignore[index]


async def test_a_sqlite_deployment_moves_into_postgresql(
    tmp_path: Path, postgres_database: str
) -> None:
    data_dir = tmp_path / "data"
    path = await _a_deployment(data_dir)
    staff = run(
        data_dir,
        "staff",
        "add",
        "ani@jovapos.test",
        "--password-stdin",
        stdin="kata sandi panjang 12\n",
    )
    assert staff.returncode == 0, staff.stderr
    before = _counts_sqlite(path)
    copied = run(data_dir, "db", "copy", "--to", postgres_database)
    assert copied.returncode == 0, copied.stderr
    assert "every count matches" in copied.stdout
    assert _counts_postgres(postgres_database, list(before)) == before
    assert before["conversations"] == 3 and before["inbound_messages"] >= 4
    # The copy serves: the request is there, and new rows take new numbers.
    settings = load_settings(
        environ={"PRIVACYBOT_DATABASE_URL": postgres_database}, data_dir=str(data_dir)
    )
    async with open_engine(settings) as engine:
        async with engine.services.store.transaction(readonly=True) as tx:
            request = await tx.get_request("DEL-COPY01")
            assert request is not None and request.full_name == "Dewi Sartika Ñuñez"
        await Chat(engine, address="+6284444").script("halo")
        async with engine.services.store.transaction(readonly=True) as tx:
            newest = await tx.get_conversation(Channel.TERMINAL, "+6284444")
            assert newest is not None and newest.id == 4
    # Copying again into the same (now used) database is refused, nothing changed.
    again = run(data_dir, "db", "copy", "--to", postgres_database)
    assert "is not empty" in assert_one_line_error(again, 1)


def test_copy_needs_a_postgresql_target_and_a_sqlite_source(
    tmp_path: Path, postgres_database: str
) -> None:
    data_dir = tmp_path / "data"
    wrong = run(data_dir, "db", "copy", "--to", "mysql://x@y/z")
    assert "postgresql://" in assert_one_line_error(wrong, 1)
    unreachable = run(data_dir, "db", "copy", "--to", "postgresql://u:secret@127.0.0.1:1/none")
    line = assert_one_line_error(unreachable, 1)
    assert "PostgreSQL" in line and "secret" not in line
    already = run(
        data_dir,
        "db",
        "copy",
        "--to",
        postgres_database,
        env=clean_env(PRIVACYBOT_DATABASE_URL=postgres_database),
    )
    assert "already uses PostgreSQL" in assert_one_line_error(already, 1)
