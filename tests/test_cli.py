"""End-to-end tests of the ``privacybot`` command line: real processes, real files.

Every test runs the installed console script in its own data folder, feeds a
scripted conversation on stdin (not a TTY, so one message per line until end of
input) and checks what a customer sees on stdout and what staff see through
``privacybot requests``. Expected customer texts come from the message
catalogue, so copy edits in ``config/messages`` do not break these tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.catalogue import Catalogue

pytestmark = pytest.mark.slow

TIMEOUT = 60  # seconds, for every process
LIMIT_MB = 10  # default max_attachment_bytes is 10 MB

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02" + b"\0" * 40
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"

REFERENCE_TOKEN = re.compile(r"\b(?:DEL|ACC|COR|RES)-[0-9A-Z]{6}\b")
CROCKFORD_SUFFIX = "[0-9A-HJKMNP-TV-Z]{6}"


def _console_script() -> str:
    sibling = Path(sys.executable).parent / "privacybot"
    if sibling.is_file():
        return str(sibling)
    found = shutil.which("privacybot")
    assert found, "the privacybot console script is not installed next to this Python"
    return found


PRIVACYBOT = _console_script()
CATALOGUE = Catalogue.load()
# References used as examples in the texts ("DEL-7K3M9Q") are not filed requests.
EXAMPLE_REFERENCES = {
    ref
    for table in CATALOGUE.texts.values()
    for text in table.values()
    for ref in REFERENCE_TOKEN.findall(text)
}


def text(language: str, key: str, **params: object) -> str:
    return CATALOGUE.text(language, key).format(**params)


# helpers --------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any PRIVACYBOT_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVACYBOT_")}
    env.update(extra)
    return env


def command(data_dir: Path | None, *args: str) -> list[str]:
    prefix = ["--data-dir", str(data_dir)] if data_dir is not None else []
    return [PRIVACYBOT, *prefix, *args]


def run(
    data_dir: Path | None,
    *args: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(data_dir, *args),
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env if env is not None else clean_env(),
        cwd=cwd,
        timeout=TIMEOUT,
        check=False,
    )


def chat(
    data_dir: Path, user: str, *lines: str, lang: str | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["chat", "--user", user] + (["--lang", lang] if lang else [])
    result = run(data_dir, *args, stdin="".join(line + "\n" for line in lines))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result


def filed_reference(stdout: str, prefix: str) -> str:
    """The one reference the bot gave out, checked to be in the last reply."""
    found = set(REFERENCE_TOKEN.findall(stdout)) - EXAMPLE_REFERENCES
    assert len(found) == 1, f"expected one reference in the chat, got {found}:\n{stdout}"
    reference = found.pop()
    assert re.fullmatch(rf"{prefix}-{CROCKFORD_SUFFIX}", reference), reference
    assert reference in stdout.strip().split("\n\n")[-1]
    return reference


def list_json(data_dir: Path, *args: str) -> list[dict[str, Any]]:
    result = run(data_dir, "requests", "list", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def show_json(data_dir: Path, reference: str) -> dict[str, Any]:
    result = run(data_dir, "requests", "show", reference, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def stored_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "files").rglob("*") if p.is_file()]


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int | None) -> str:
    """A user error: one line on stderr, nothing on stdout, no traceback."""
    if status is None:
        assert result.returncode != 0
    else:
        assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("privacybot: error: "), lines[0]
    return lines[0]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "ktp.png"
    path.write_bytes(PNG)
    return path


DELETION_UP_TO_PROOF = (
    "halo",
    "hapus akun",
    "ya",
    "Budi Santoso",
    "budi.santoso@example.com",
    "2",  # Pindah ke aplikasi lain
)


# 1. a deletion request in Indonesian, with a photo of the ID ----------------


def test_deletion_in_indonesian_with_png_is_filed_and_visible_to_staff(
    data_dir: Path, png_file: Path
) -> None:
    result = chat(data_dir, "budi", *DELETION_UP_TO_PROOF, f"/attach {png_file}", "kirim")

    out = result.stdout
    assert text("id", "menu.welcome") in out
    assert text("id", "prompt.consequences") in out
    assert text("id", "prompt.id_proof", limit_mb=LIMIT_MB) in out
    assert text("id", "proof.received") in out
    reference = filed_reference(out, "DEL")
    assert text("id", "filed.proof_received", reference=reference) in out

    [summary] = list_json(data_dir)
    assert summary["reference"] == reference
    assert summary["type"] == "deletion"
    assert summary["status"] == "verifying"
    assert summary["channel"] == "terminal"
    assert summary["customer_address"] == "budi"
    assert summary["full_name"] == "Budi Santoso"
    assert summary["email"] == "budi.santoso@example.com"
    assert summary["reason"] == text("id", "choice.deletion_reason.switching")
    assert summary["language"] == "id"
    created_at = datetime.fromisoformat(summary["created_at"])
    assert created_at.tzinfo is not None
    due = date.fromisoformat(summary["due_date"])
    assert due > created_at.date()

    detail = show_json(data_dir, reference)
    assert {k: detail[k] for k in summary} == summary
    assert detail["details"] == {"reason_code": "switching"}
    [attachment] = detail["attachments"]
    assert attachment["media_type"] == "image/png"
    assert attachment["size"] == len(PNG)
    assert attachment["sha256"] == hashlib.sha256(png_file.read_bytes()).hexdigest()
    assert attachment["deleted_at"] is None
    filed = [e for e in detail["events"] if e["kind"] == "filed"]
    assert len(filed) == 1
    assert filed[0]["actor"] == "customer"
    assert filed[0]["data"] == {"status": "verifying"}

    # The photo itself is kept, byte for byte, under an opaque name.
    [blob] = stored_files(data_dir)
    assert blob.read_bytes() == PNG
    assert "ktp" not in str(blob.relative_to(data_dir))

    table = run(data_dir, "requests", "list")
    assert table.returncode == 0, table.stderr
    assert reference in table.stdout
    assert "verifying" in table.stdout

    human = run(data_dir, "requests", "show", reference.lower())  # references forgive case
    assert human.returncode == 0, human.stderr
    assert f"reference: {reference}" in human.stdout
    assert attachment["sha256"] in human.stdout
    assert "image/png" in human.stdout


# 2. a correction request in English ----------------------------------------


def test_correction_in_english(data_dir: Path) -> None:
    result = chat(
        data_dir,
        "jane",
        "hi",
        "3",
        "Jane Doe",
        "jane@example.com",
        "2",  # Email
        "jane.new@example.com",
        "later",
        "submit",
        lang="en",
    )

    out = result.stdout
    for key in ("menu.welcome", "intro.correction", "prompt.full_name", "prompt.correction_field"):
        assert text("en", key) in out, key
    assert text("en", "proof.later") in out
    assert text("id", "prompt.full_name") not in out
    reference = filed_reference(out, "COR")
    assert text("en", "filed.proof_later", reference=reference) in out

    [summary] = list_json(data_dir)
    assert summary["reference"] == reference
    assert summary["type"] == "correction"
    assert summary["status"] == "awaiting_id_proof"
    assert summary["language"] == "en"
    assert summary["full_name"] == "Jane Doe"
    assert summary["email"] == "jane@example.com"
    assert summary["reason"] is None

    detail = show_json(data_dir, reference)
    assert detail["details"]["correction_field"] == "email"
    assert detail["details"]["correction_value"] == "jane.new@example.com"
    assert detail["attachments"] == []
    assert [e["kind"] for e in detail["events"]] == ["filed"]
    assert detail["events"][0]["data"] == {"status": "awaiting_id_proof"}


# 3. a draft survives the end of the process --------------------------------


def test_draft_resumes_in_a_new_process(data_dir: Path, png_file: Path) -> None:
    first = chat(data_dir, "sari", "halo", "1", "1", "Sari Dewi", "sari@example.com")
    assert first.stdout.strip().endswith(text("id", "prompt.reason.deletion"))
    assert list_json(data_dir) == []

    second = chat(data_dir, "sari", "3", f"/attach {png_file}", "1")
    out = second.stdout
    # It picks up at the reason step: no greeting, no questions asked twice.
    assert text("id", "menu.welcome") not in out
    assert text("id", "prompt.full_name") not in out
    assert out.startswith(text("id", "prompt.id_proof", limit_mb=LIMIT_MB))
    assert "Sari Dewi" in out  # the summary shows the name given to the first process
    reference = filed_reference(out, "DEL")

    [summary] = list_json(data_dir)
    assert summary["reference"] == reference
    assert summary["customer_address"] == "sari"
    assert summary["full_name"] == "Sari Dewi"
    assert summary["email"] == "sari@example.com"
    assert summary["reason"] == text("id", "choice.deletion_reason.privacy")
    assert summary["status"] == "verifying"


# 4. filtering by status, and ID proof sent after filing --------------------


def test_list_filters_by_status(data_dir: Path, png_file: Path) -> None:
    later = filed_reference(
        chat(data_dir, "andi", *DELETION_UP_TO_PROOF, "nanti", "kirim").stdout, "DEL"
    )
    now = filed_reference(
        chat(data_dir, "dewi", *DELETION_UP_TO_PROOF, f"/attach {png_file}", "kirim").stdout,
        "DEL",
    )
    assert later != now

    assert {r["reference"] for r in list_json(data_dir)} == {later, now}
    awaiting = list_json(data_dir, "--status", "awaiting_id_proof")
    assert [(r["reference"], r["status"]) for r in awaiting] == [(later, "awaiting_id_proof")]
    verifying = list_json(data_dir, "--status", "verifying")
    assert [(r["reference"], r["status"]) for r in verifying] == [(now, "verifying")]
    assert list_json(data_dir, "--status", "completed") == []

    table = run(data_dir, "requests", "list", "--status", "awaiting_id_proof")
    assert table.returncode == 0, table.stderr
    assert later in table.stdout
    assert now not in table.stdout

    # The customer sends the photo later, from the menu, in a new session.
    proof = chat(data_dir, "andi", f"/attach {png_file}")
    assert text("id", "proof.attached_to", reference=later) in proof.stdout
    assert list_json(data_dir, "--status", "awaiting_id_proof") == []
    detail = show_json(data_dir, later)
    assert detail["status"] == "verifying"
    assert [e["kind"] for e in detail["events"]] == ["filed", "id_proof_received"]
    assert [a["media_type"] for a in detail["attachments"]] == ["image/png"]


# 5. errors: one line on stderr, a non-zero status, never a traceback -------


@pytest.mark.parametrize(
    ("args", "env", "status", "mentions"),
    [
        pytest.param(
            ["requests", "show", "DEL-ZZZZZZ"], {}, 1, ["DEL-ZZZZZZ"], id="unknown-reference"
        ),
        pytest.param(["requests", "show", "hello"], {}, 1, ["'hello'"], id="malformed-reference"),
        pytest.param(["frobnicate"], {}, 2, ["frobnicate"], id="unknown-command"),
        pytest.param(
            ["requests", "list", "--status", "bogus"], {}, 2, ["--status", "bogus"], id="bad-status"
        ),
        pytest.param(["serve", "--port", "70000"], {}, 2, ["--port"], id="serve-bad-port"),
        pytest.param(
            ["serve"],
            {"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "t"},
            1,
            ["PRIVACYBOT_PUBLIC_URL"],
            id="twilio-without-public-url",
        ),
        pytest.param(
            ["requests", "list"],
            {"PRIVACYBOT_COMPLETION_BUSINESS_DAYS": "abc"},
            1,
            ["PRIVACYBOT_COMPLETION_BUSINESS_DAYS", "abc"],
            id="bad-setting",
        ),
        pytest.param(
            ["requests", "list"],
            {"PRIVACYBOT_DATABASE_URL": "postgresql://x/y"},
            1,
            ["PRIVACYBOT_DATABASE_URL", "postgresql"],
            id="unsupported-database",
        ),
    ],
)
def test_errors_are_one_line(
    data_dir: Path, args: list[str], env: dict[str, str], status: int | None, mentions: list[str]
) -> None:
    result = run(data_dir, *args, env=clean_env(**env))
    line = assert_one_line_error(result, status)
    for word in mentions:
        assert word in line
    if env:  # a bad setting is reported before anything is created
        assert not data_dir.exists()


@pytest.mark.parametrize("how", ["option", "environment"])
@pytest.mark.parametrize("args", [["requests", "list"], ["chat", "--user", "x"]], ids=str)
def test_data_dir_that_is_a_file_is_an_error(tmp_path: Path, how: str, args: list[str]) -> None:
    not_a_dir = tmp_path / "not-a-dir"
    not_a_dir.write_text("I am a file\n")
    if how == "option":
        result = run(not_a_dir, *args, stdin="halo\n", cwd=tmp_path)
    else:
        env = clean_env(PRIVACYBOT_DATA_DIR=str(not_a_dir))
        result = run(None, *args, stdin="halo\n", env=env, cwd=tmp_path)
    line = assert_one_line_error(result, 1)
    assert str(not_a_dir) in line
    assert not_a_dir.read_text() == "I am a file\n"
    assert not (tmp_path / "data").exists()  # no silent fallback to ./data


def test_file_storage_that_is_not_a_folder_is_an_error(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "files").write_text("not a folder\n")
    result = run(data_dir, "chat", "--user", "x", stdin="halo\n")
    line = assert_one_line_error(result, 1)
    assert str(data_dir / "files") in line and "not a writable folder" in line


# 6. several processes on one database --------------------------------------


def test_concurrent_chats_share_one_database(tmp_path: Path, data_dir: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text("".join(line + "\n" for line in (*DELETION_UP_TO_PROOF, "nanti", "kirim")))
    users = [f"kasir-{i}" for i in range(4)]
    processes = []
    for user in users:
        with script.open() as stdin:  # each child keeps its own copy of the handle
            processes.append(
                subprocess.Popen(
                    command(data_dir, "chat", "--user", user),
                    stdin=stdin,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    encoding="utf-8",
                    env=clean_env(),
                )
            )
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=TIMEOUT))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [p.returncode for p in processes] == [0] * len(users), [err for _, err in outputs]
    assert [err for _, err in outputs] == [""] * len(users)
    stdouts = [out for out, _ in outputs]
    given = {user: filed_reference(out, "DEL") for user, out in zip(users, stdouts, strict=True)}

    found = list_json(data_dir)
    assert len(found) == len(users)
    assert {r["customer_address"]: r["reference"] for r in found} == given
    assert len(set(given.values())) == len(users)
    assert {r["status"] for r in found} == {"awaiting_id_proof"}


# 7. files: missing, disguised, too large -----------------------------------


def test_attach_missing_file_says_so_and_chat_continues(tmp_path: Path, data_dir: Path) -> None:
    missing = tmp_path / "tidak-ada.jpg"
    result = chat(data_dir, "rina", *DELETION_UP_TO_PROOF, f"/attach {missing}", "nanti", "kirim")

    assert text("id", "terminal.file_not_found", path=missing) in result.stdout
    assert text("id", "proof.later") in result.stdout
    reference = filed_reference(result.stdout, "DEL")
    detail = show_json(data_dir, reference)
    assert detail["status"] == "awaiting_id_proof"
    assert detail["attachments"] == []


def test_pdf_named_jpg_is_sniffed_as_pdf(tmp_path: Path, data_dir: Path) -> None:
    disguised = tmp_path / "ktp scan.jpg"  # a space in the name, too
    disguised.write_bytes(PDF)
    result = chat(data_dir, "yanto", *DELETION_UP_TO_PROOF, f'/attach "{disguised}"', "kirim")

    assert text("id", "proof.received") in result.stdout
    reference = filed_reference(result.stdout, "DEL")
    detail = show_json(data_dir, reference)
    assert detail["status"] == "verifying"
    [attachment] = detail["attachments"]
    assert attachment["media_type"] == "application/pdf"
    assert attachment["size"] == len(PDF)
    assert attachment["sha256"] == hashlib.sha256(PDF).hexdigest()


def test_file_over_the_size_limit_is_refused_and_not_stored(tmp_path: Path, data_dir: Path) -> None:
    big = tmp_path / "ktp-besar.jpg"
    with big.open("wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0")
        handle.truncate(11 * 1024 * 1024)
    assert big.stat().st_size == 11 * 1024 * 1024

    result = chat(data_dir, "tono", *DELETION_UP_TO_PROOF, f"/attach {big}", "nanti", "kirim")

    out = result.stdout
    assert out.count(text("id", "hint.file_too_large", limit_mb=LIMIT_MB)) == 1
    assert text("id", "proof.received") not in out
    reference = filed_reference(out, "DEL")
    detail = show_json(data_dir, reference)
    assert detail["status"] == "awaiting_id_proof"
    assert detail["attachments"] == []
    assert stored_files(data_dir) == []
    with sqlite3.connect(data_dir / "privacybot.db") as db:
        assert db.execute("SELECT count(*) FROM attachments").fetchone() == (0,)


# undecodable input ---------------------------------------------------------


def test_line_that_is_not_utf8_does_not_end_the_chat(data_dir: Path) -> None:
    # "José" typed on a Latin-1 terminal, and raw bytes at the menu.
    lines = ["\udcff\udcfe", *DELETION_UP_TO_PROOF, "nanti", "kirim"]
    lines[6] = "Jos\udce9 suka aplikasi lain"  # the reason
    stdin = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    result = subprocess.run(
        command(data_dir, "chat", "--user", "jose"),
        input=stdin,
        capture_output=True,
        env=clean_env(),
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (filed,) = list_json(data_dir)
    assert filed["reason"] == "Jos\ufffd suka aplikasi lain"
