"""The PostgreSQL server the tests use (``tests/postgres.py``) is real, each
test's database is its own, and the suite can start its own server where
none runs."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests.postgres import ENV, fresh_database, throwaway_server

pytestmark = pytest.mark.own_database  # PostgreSQL and SQLite both, by name


def test_each_test_gets_an_empty_database_of_its_own(
    postgres_server: str, postgres_database: str
) -> None:
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        (version,) = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        assert version >= 130000  # the oldest release the backend is written for
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone() == (0,)
        conn.execute("CREATE TABLE mine (n int)")
    with fresh_database(postgres_server) as other, psycopg.connect(other) as conn:
        assert conn.execute("SELECT to_regclass('mine')").fetchone() == (None,)


@pytest.mark.slow
def test_a_throwaway_server_starts_where_none_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a fresh machine does (no PRIVACYBOT_TEST_DATABASE_URL, no server
    running): start one from the installed binaries, then remove it."""
    monkeypatch.delenv(ENV, raising=False)
    with throwaway_server() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            folder = conn.execute("SHOW unix_socket_directories").fetchone()[0]
        assert os.path.isdir(folder)
    assert not os.path.exists(folder)  # stopped and removed
