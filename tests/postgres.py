"""A real PostgreSQL server for the tests: the one ``PRIVACYBOT_TEST_DATABASE_URL``
names when it is set, otherwise a throwaway one started from Debian's
``postgresql`` binaries in a temporary folder (``scripts/test.sh`` installs
them when missing), on a free port of 127.0.0.1, stopped and removed at the
end. So the suite runs the same on a machine with no server running.

PostgreSQL refuses to run as root: when the tests do, the throwaway server
runs as the system's ``postgres`` user (which Debian's package creates).
Each test that needs a database gets its own, created and dropped here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ENV = "PRIVACYBOT_TEST_DATABASE_URL"


def binaries() -> Path | None:
    """The folder of the newest installed server's programs."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_server() -> Iterator[str]:
    """A new server's URL (user ``postgres``, trust authentication)."""
    bindir = binaries()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL is not installed: run scripts/test.sh (it installs Debian's "
            f"postgresql) or set {ENV} to a server's URL"
        )
    folder = Path(tempfile.mkdtemp(prefix="privacybot-pg-"))
    runner: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        runner = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    pg_ctl = [*runner, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        initdb = [*runner, str(bindir / "initdb"), "-D", str(data), "-U", "postgres"]
        subprocess.run(
            [*initdb, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        subprocess.run(
            [*pg_ctl, "-w", "-l", str(folder / "server.log"), "-o", options, "start"],
            check=True,
            capture_output=True,
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def server() -> Iterator[str]:
    """The server the tests use (see the module's docstring)."""
    named = os.environ.get(ENV)
    if named:
        yield named
        return
    with throwaway_server() as url:
        yield url


def _named(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def migrated_template(server_url: str) -> str:
    """A database with the schema at its newest, made once per test run, that
    each test's database is copied from (much quicker than migrating each)."""
    from bot.store.schema import upgrade

    name = f"privacybot_template_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    upgrade(_named(server_url, name))
    return name


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(server_url: str, template: str | None = None) -> Iterator[str]:
    """A new database on ``server_url`` (empty, or a copy of ``template``),
    dropped afterwards (its connections too); its URL."""
    name = f"privacybot_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    parts = urlsplit(server_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _serve(url_file: str) -> None:
    """``python -m tests.postgres --serve FILE``: a throwaway server for a whole
    test run (``scripts/test.sh``: both passes use it), its URL written to
    FILE, until this process is told to stop."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with throwaway_server() as url:
        Path(url_file).write_text(url, encoding="utf-8")
        stop.wait()


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--serve"] and len(sys.argv) == 3:
        _serve(sys.argv[2])
    else:
        sys.exit("usage: python -m tests.postgres --serve FILE")
