"""Kill -9 at random moments: what was acknowledged is kept, nothing half-done.

A scripted ``privacybot chat`` process is killed while it works; afterwards the
database must be intact, every recorded message must have its recorded
replies (all of one transaction or none of it), every kept file must exist,
and a new process must carry the conversation on.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from flows.dialogue import Dialogue
from tests.conftest import JPEG

pytestmark = pytest.mark.slow

SCRIPT = [
    "halo",
    "2",
    "Siti Aminah",
    "siti@example.com",
    "lewati",
    "/attach {file}",
    "1",
    "1",
    "1",
    "Budi Santoso",
    "budi@example.com",
    "3",
    "nanti",
    "1",
    "5",
    "batal",
]


def _privacybot() -> str:
    import sys

    return str(Path(sys.executable).parent / "privacybot")


def _handled(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM inbound_messages").fetchone()[0]
    except sqlite3.OperationalError:  # killed before the schema was created
        return 0
    finally:
        con.close()


def _check_consistent(db: Path, files: Path, states: frozenset[str]) -> None:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orphans = con.execute(
            "SELECT count(*) FROM inbound_messages i WHERE NOT EXISTS "
            "(SELECT 1 FROM outbound_messages o WHERE o.inbound_id = i.id)"
        ).fetchone()[0]
        assert orphans == 0, "a message was recorded without its replies"
        for (state,) in con.execute("SELECT state FROM conversations"):
            assert state in states
        for (token,) in con.execute("SELECT token FROM attachments WHERE deleted_at IS NULL"):
            assert (files / token[:2] / token).is_file(), "a kept file is missing"
        for (ref,) in con.execute("SELECT reference FROM requests"):
            events = con.execute(
                "SELECT count(*) FROM request_events e JOIN requests r ON r.id = e.request_id "
                "WHERE r.reference = ? AND e.kind = 'filed'",
                (ref,),
            ).fetchone()[0]
            assert events == 1, "a request was filed without its event"
    finally:
        con.close()


def test_killed_processes_leave_a_consistent_database(tmp_path: Path, dialogue: Dialogue) -> None:
    data = tmp_path / "data"
    photo = tmp_path / "ktp.jpg"
    photo.write_bytes(JPEG + os.urandom(200_000))
    lines = "".join(line.format(file=photo) + "\n" for line in SCRIPT) * 40
    sent = len(SCRIPT) * 40
    interrupted = 0
    rng = random.Random(20261126)
    env = {**os.environ, "PRIVACYBOT_DATA_DIR": str(data)}
    for round_ in range(6):
        before = _handled(data / "privacybot.db")
        proc = subprocess.Popen(
            [_privacybot(), "chat", "--user", f"crash-{round_ % 2}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdin is not None
        proc.stdin.write(lines.encode())
        proc.stdin.flush()
        time.sleep(rng.uniform(0.4, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _check_consistent(data / "privacybot.db", data / "files", dialogue.states)
        interrupted += _handled(data / "privacybot.db") - before < sent
    assert interrupted >= 3, "the kills should land while messages are being handled"

    # A new process carries on normally after all that.
    done = subprocess.run(
        [_privacybot(), "chat", "--user", "crash-0"],
        input="batal\n2\nSiti Aminah\nsiti@example.com\nlewati\nnanti\n1\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ACC-" in done.stdout
    _check_consistent(data / "privacybot.db", data / "files", dialogue.states)
