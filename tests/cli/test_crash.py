"""Kill -9 at random moments: what was acknowledged is kept, nothing half-done.

A scripted ``privacybot chat`` process is killed while it works; afterwards the
database must be intact, every recorded message must have its recorded
replies (all of one transaction or none of it), every kept file must exist,
and a new process must carry the conversation on.

A script cannot know the emailed code, so each killed customer is first
brought, in two ordinary runs (the second starting with the code from the
first's development mail), to the ID-proof step; the killed script then sends
the photo and files the request, and goes on through steps that mail codes,
get wrong ones, ask for a resend and go back.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bot.infra.catalogue import Catalogue
from flows.dialogue import Dialogue
from tests.conftest import JPEG, console_script

# SQLite's own crash safety (its file, its journal); PostgreSQL's: tests/cli/test_instances.py
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

CODE_LINE = re.compile(r"^(\d{6})$", re.MULTILINE)
CATALOGUE = Catalogue.load()

TO_EMAIL = ["halo", "2", "Siti Aminah", "siti@example.com"]  # an access request
SCRIPT = [
    "/attach {file}",  # at the ID-proof step: kept sealed, then
    "1",  # the request is filed
    "halo",
    "1",
    "1",
    "Budi Santoso",
    "budi@example.com",  # a code is mailed
    "000000",
    "kirim ulang",
    "12 34 56",
    "kembali",
    "budi@example.com",  # and another
    "999999",
    "batal",
    "2",
    "Siti",
    "siti@example.com",
    "lewati",  # not a code
    "/attach {file}",
    "batal",
]
REPEAT = 40


PRIVACYBOT = console_script()


def _chat(env: dict[str, str], user: str, *lines: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [PRIVACYBOT, "chat", "--user", user],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done


def _code_on_screen(stdout: str, to: str) -> str:
    marker = CATALOGUE.text("id", "terminal.dev_mail").format(to=to, text="")
    assert marker in stdout, stdout
    match = CODE_LINE.search(stdout.rsplit(marker, 1)[1])
    assert match, stdout
    return match.group(1)


def _to_id_proof(env: dict[str, str], user: str) -> None:
    """An access request verified by its code, waiting for the ID proof."""
    first = _chat(env, user, *TO_EMAIL)
    code = _code_on_screen(first.stdout, TO_EMAIL[-1])
    second = _chat(env, user, code, "lewati")
    assert CATALOGUE.text("id", "code.verified") in second.stdout


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
    photo.write_bytes(JPEG + os.urandom(200_000))  # trailing bytes after the image are dropped
    lines = "".join(line.format(file=photo) + "\n" for line in SCRIPT * REPEAT)
    sent = len(SCRIPT) * REPEAT
    interrupted = 0
    rng = random.Random(20261126)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PRIVACYBOT_")},
        "PRIVACYBOT_DATA_DIR": str(data),
        # Every round asks codes for the same address: this test is about crashes.
        "PRIVACYBOT_EMAIL_CODES_PER_HOUR": "1000",
    }
    for round_ in range(6):
        user = f"crash-{round_}"
        _to_id_proof(env, user)
        before = _handled(data / "privacybot.db")
        proc = subprocess.Popen(
            [PRIVACYBOT, "chat", "--user", user],
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

    # A new process carries on normally after all that, code and all: a killed
    # customer's conversation answers, and a new customer files a request. (The
    # killed scripts may have used up crash-0's code limits, as a real guesser would.)
    resumed = _chat(env, "crash-0", "batal")
    assert CATALOGUE.text("id", "menu.prompt") in resumed.stdout
    first = _chat(env, "crash-final", *TO_EMAIL)
    code = _code_on_screen(first.stdout, TO_EMAIL[-1])
    done = _chat(env, "crash-final", code, "lewati", "nanti", "1")
    assert CATALOGUE.text("id", "code.verified") in done.stdout
    assert "ACC-" in done.stdout
    _check_consistent(data / "privacybot.db", data / "files", dialogue.states)
