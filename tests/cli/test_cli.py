"""End-to-end tests of the ``privacybot`` command line: real processes, real files.

Every test runs the installed console script in its own data folder, feeds a
scripted conversation on stdin (not a TTY, so one message per line until end of
input) and checks what a customer sees on stdout and what staff see through
``privacybot requests``. Expected customer texts come from the message
catalogue, so copy edits in ``config/messages`` do not break these tests.

A request is filed only after the customer types the code mailed to them. A
script cannot know that code in advance, so a conversation runs in two
processes with the same user and data folder: the first ends with the email,
the test reads the code (shown on stdout as development mail, and written as
an ``.eml`` file under ``DATA_DIR/mail`` since no SMTP server is configured),
and the second starts with the code and carries on.
"""

from __future__ import annotations

import email
import getpass
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.infra.catalogue import Catalogue
from bot.infra.images import strip_metadata
from tests.conftest import PDF, PNG, console_script, database_env
from tests.raw import sql

pytestmark = pytest.mark.slow

TIMEOUT = 60  # seconds, for every process
LIMIT_MB = 10  # default max_attachment_bytes is 10 MB
CODE_MINUTES = 10  # default email_code_minutes

REFERENCE_TOKEN = re.compile(r"\b(?:DEL|ACC|COR|RES)-[0-9A-Z]{6}\b")
CROCKFORD_SUFFIX = "[0-9A-HJKMNP-TV-Z]{6}"
CODE_LINE = re.compile(r"^(\d{6})$", re.MULTILINE)
STORED_PNG = strip_metadata(PNG, "image/png")  # what is kept of PNG: deterministic


PRIVACYBOT = console_script()
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


def text_before(language: str, key: str, placeholder: str) -> str:
    """The fixed start of a text, up to a placeholder whose value varies."""
    return CATALOGUE.text(language, key).split("{" + placeholder + "}", 1)[0]


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
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(data_dir, *args),
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        # (On the PostgreSQL pass, the test's database for that folder.)
        env=env if env is not None else clean_env(**(database_env(data_dir) if data_dir else {})),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def chat(
    data_dir: Path, user: str, *lines: str, lang: str | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    args = ["chat", "--user", user] + (["--lang", lang] if lang else [])
    stdin = "".join(line + "\n" for line in lines)
    result = run(data_dir, *args, stdin=stdin, timeout=timeout)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # the chat logs only errors: the terminal stays clean
    return result


# the mailed code ------------------------------------------------------------


def mail_files(data_dir: Path) -> set[Path]:
    return set((data_dir / "mail").glob("*.eml"))


def read_mail(path: Path) -> tuple[str, str]:
    """(recipient, code) of a development mail written as an .eml file."""
    message = email.message_from_bytes(path.read_bytes())
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            body = payload.decode(part.get_content_charset() or "utf-8")
            match = CODE_LINE.search(body)
            assert match, body
            return str(message["To"]), match.group(1)
    raise AssertionError(f"no text/plain part in {path.name}")


def code_on_screen(stdout: str, language: str, to: str) -> str:
    """The code in the last development mail ``privacybot chat`` printed."""
    marker = text(language, "terminal.dev_mail", to=to, text="")
    assert marker in stdout, stdout
    match = CODE_LINE.search(stdout.rsplit(marker, 1)[1])
    assert match, stdout
    return match.group(1)


def mailed_code(data_dir: Path, before: set[Path], to: str) -> str:
    """The code in the one mail written since ``before``, checked to be for ``to``."""
    new = mail_files(data_dir) - before
    assert len(new) == 1, sorted(p.name for p in new)
    recipient, code = read_mail(new.pop())
    assert recipient == to
    return code


@dataclass
class Conversation:
    """A scripted request in two processes: up to the email, then from the code."""

    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    code: str

    @property
    def stdout(self) -> str:
        return self.first.stdout + self.second.stdout


def chat_to_code(
    data_dir: Path, user: str, *lines: str, lang: str | None = None
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run a chat whose last line is the email; (the run, the code mailed to it).
    The code shown on the terminal is the one in the .eml file."""
    language = lang or "id"
    before = mail_files(data_dir)
    result = chat(data_dir, user, *lines, lang=lang)
    to = lines[-1]
    code = mailed_code(data_dir, before, to)
    assert code_on_screen(result.stdout, language, to) == code
    prompt = text(language, "prompt.email_code", email=to, minutes=CODE_MINUTES)
    # The reply first; the development mail after it (it is sent after the reply).
    marker = text(language, "terminal.dev_mail", to=to, text="")
    assert result.stdout.rsplit(marker, 1)[0].strip().endswith(prompt), result.stdout
    return result, code


def request_chat(
    data_dir: Path,
    user: str,
    up_to_email: Sequence[str],
    after_code: Sequence[str],
    lang: str | None = None,
) -> Conversation:
    first, code = chat_to_code(data_dir, user, *up_to_email, lang=lang)
    second = chat(data_dir, user, code, *after_code)
    assert second.stdout.startswith(text(lang or "id", "code.verified")), second.stdout
    return Conversation(first, second, code)


# staff views ----------------------------------------------------------------


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


DELETION_UP_TO_EMAIL = (
    "halo",
    "hapus akun",
    "ya",
    "Budi Santoso",
    "budi.santoso@example.com",
)
REASON = "2"  # Pindah ke aplikasi lain; after it, the bot asks for the ID proof


def up_to_email(user: str) -> tuple[str, ...]:
    """DELETION_UP_TO_EMAIL with the user's own email: one open deletion request
    per email is the rule, so customers of one test need their own addresses."""
    return (*DELETION_UP_TO_EMAIL[:-1], f"{user}@example.com")


# 1. a deletion request in Indonesian, with a photo of the ID ----------------


def test_deletion_in_indonesian_with_png_is_filed_and_visible_to_staff(
    data_dir: Path, png_file: Path
) -> None:
    conversation = request_chat(
        data_dir, "budi", DELETION_UP_TO_EMAIL, (REASON, f"/attach {png_file}", "kirim")
    )

    out = conversation.stdout
    assert text("id", "menu.welcome") in out
    assert text("id", "prompt.consequences") in out
    assert text("id", "code.verified") in out
    assert text("id", "prompt.id_proof", limit_mb=LIMIT_MB) in out
    assert text("id", "proof.received") in out
    reference = filed_reference(out, "DEL")
    assert text("id", "filed.proof_received", reference=reference) in out
    # The first start made the secret key, readable by the service only.
    assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600

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
    # What is kept, and described, is the photo without its metadata.
    assert attachment["size"] == len(STORED_PNG)
    assert attachment["sha256"] == hashlib.sha256(STORED_PNG).hexdigest()
    assert attachment["deleted_at"] is None
    assert attachment["views"] == []
    filed = [e for e in detail["events"] if e["kind"] == "filed"]
    assert len(filed) == 1
    assert filed[0]["actor"] == "customer"
    assert filed[0]["data"] == {"status": "verifying", "email_verified": True}

    # The photo is kept sealed under an opaque name: no plaintext on disk.
    [blob] = stored_files(data_dir)
    sealed = blob.read_bytes()
    assert PNG not in sealed and PNG[:16] not in sealed
    assert STORED_PNG not in sealed
    assert "ktp" not in str(blob.relative_to(data_dir))
    assert blob.stat().st_mode & 0o777 == 0o600

    table = run(data_dir, "requests", "list")
    assert table.returncode == 0, table.stderr
    assert reference in table.stdout
    assert "verifying" in table.stdout

    human = run(data_dir, "requests", "show", reference.lower())  # references forgive case
    assert human.returncode == 0, human.stderr
    assert f"reference: {reference}" in human.stdout
    assert attachment["sha256"] in human.stdout
    assert "image/png" in human.stdout

    # Staff read the photo back through the command line, and the look is recorded.
    proof = subprocess.run(
        command(data_dir, "requests", "proof", reference, "--viewer", "ani", "--reason", "audit"),
        capture_output=True,
        env=clean_env(**database_env(data_dir)),
        timeout=TIMEOUT,
        check=False,
    )
    assert proof.returncode == 0, proof.stderr
    assert proof.stdout == STORED_PNG
    [viewed] = show_json(data_dir, reference)["attachments"]
    assert [(v["viewer"], v["purpose"]) for v in viewed["views"]] == [("ani", "cli")]
    history = show_json(data_dir, reference)["events"]
    assert any(
        e["kind"] == "id_proof_viewed" and e["data"]["reason_code"] == "audit" for e in history
    )
    # No reason, no look; a file that is not there is said so.
    for extra in ((), ("--reason", " "), ("--reason", "audit", "--number", "2")):
        refused = subprocess.run(
            command(data_dir, "requests", "proof", reference, "--viewer", "ani", *extra),
            capture_output=True,
            env=clean_env(**database_env(data_dir)),
            timeout=TIMEOUT,
            check=False,
        )
        assert refused.returncode != 0 and refused.stdout == b"", extra
        assert refused.stderr.strip(), extra
    [viewed] = show_json(data_dir, reference)["attachments"]
    assert len(viewed["views"]) == 1


# 2. a correction request in English ----------------------------------------


def test_correction_in_english(data_dir: Path) -> None:
    first, code = chat_to_code(
        data_dir, "jane", "hi", "3", "Jane Doe", "jane@example.com", lang="en"
    )
    wrong = "000000" if code != "000000" else "111111"
    second = chat(
        data_dir,
        "jane",
        wrong,
        "resend",  # too soon after the first mail: the code stays the same
        code,
        "2",  # Email
        "jane.new@example.com",
        "later",
        "submit",
    )

    out = first.stdout + second.stdout
    for key in ("menu.welcome", "intro.correction", "prompt.full_name", "prompt.correction_field"):
        assert text("en", key) in out, key
    assert second.stdout.startswith(text("en", "hint.code_wrong", left=4))
    assert text_before("en", "hint.code_wait", "seconds") in second.stdout
    assert text("en", "code.verified") in second.stdout
    assert text("en", "proof.later") in out
    assert text("id", "prompt.full_name") not in out
    reference = filed_reference(out, "COR")
    assert text("en", "filed.proof_later", reference=reference) in out
    assert len(mail_files(data_dir)) == 1  # no second mail for a refused resend

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
    assert detail["events"][0]["data"] == {"status": "awaiting_id_proof", "email_verified": True}


# 3. a draft survives the end of the process --------------------------------


def test_draft_resumes_in_a_new_process(data_dir: Path, png_file: Path) -> None:
    _, code = chat_to_code(data_dir, "sari", "halo", "1", "1", "Sari Dewi", "sari@example.com")
    assert list_json(data_dir) == []

    # The code, typed in a new process: it picks up at the code step.
    second = chat(data_dir, "sari", code)
    assert second.stdout.startswith(text("id", "code.verified"))
    assert second.stdout.strip().endswith(text("id", "prompt.reason.deletion"))
    assert list_json(data_dir) == []

    third = chat(data_dir, "sari", "3", f"/attach {png_file}", "1")
    out = third.stdout
    # It picks up at the reason step: no greeting, no questions asked twice.
    for later in (second.stdout, out):
        assert text("id", "menu.welcome") not in later
        assert text("id", "prompt.full_name") not in later
    assert text_before("id", "prompt.email_code", "email") not in out
    assert out.startswith(text("id", "prompt.id_proof", limit_mb=LIMIT_MB))
    assert "Sari Dewi" in out  # the summary shows the name given to the first process
    reference = filed_reference(out, "DEL")
    assert len(mail_files(data_dir)) == 1  # one code, from the first process

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
        request_chat(data_dir, "andi", up_to_email("andi"), (REASON, "nanti", "kirim")).stdout,
        "DEL",
    )
    now = filed_reference(
        request_chat(
            data_dir, "dewi", up_to_email("dewi"), (REASON, f"/attach {png_file}", "kirim")
        ).stdout,
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
    assert [a["sha256"] for a in detail["attachments"]] == [hashlib.sha256(STORED_PNG).hexdigest()]


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
            {"PRIVACYBOT_DATABASE_URL": "mysql://x/y"},
            1,
            ["PRIVACYBOT_DATABASE_URL", "mysql", "postgresql://"],
            id="unsupported-database",
        ),
        pytest.param(
            ["requests", "list"],
            {"PRIVACYBOT_DATABASE_URL": "postgresql://u:s3cret@127.0.0.1:1/desk"},
            1,
            ["PRIVACYBOT_DATABASE_URL", "PostgreSQL", "127.0.0.1"],
            id="unreachable-postgresql",
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
    assert "s3cret" not in line  # a URL's password is never shown
    if env:  # a bad setting is reported before anything is created
        assert not data_dir.exists()


@pytest.mark.parametrize("how", ["option", "environment"])
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["requests", "list"], id="requests"),
        pytest.param(["chat", "--user", "x"], id="chat"),
    ],
)
def test_data_dir_that_is_a_file_is_an_error(tmp_path: Path, how: str, args: list[str]) -> None:
    not_a_dir = tmp_path / "not-a-dir"
    not_a_dir.write_text("I am a file\n")
    if how == "option":
        result = run(not_a_dir, *args, stdin="halo\n", cwd=tmp_path)
    else:
        env = clean_env(PRIVACYBOT_DATA_DIR=str(not_a_dir))
        result = run(None, *args, stdin="halo\n", env=env, cwd=tmp_path)
    assert not_a_dir.read_text() == "I am a file\n"
    assert not (tmp_path / "data").exists()  # no silent fallback to ./data
    line = assert_one_line_error(result, 1)
    assert str(not_a_dir) in line


def test_file_storage_that_is_not_a_folder_is_an_error(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "files").write_text("not a folder\n")
    result = run(data_dir, "chat", "--user", "x", stdin="halo\n")
    line = assert_one_line_error(result, 1)
    assert str(data_dir / "files") in line and "not a writable folder" in line


# 6. several processes on one database --------------------------------------


def run_together(
    data_dir: Path, tmp_path: Path, scripts: dict[str, Sequence[str]]
) -> dict[str, str]:
    """One ``privacybot chat`` per user, all at once; each user's stdout."""
    processes = {}
    for user, lines in scripts.items():
        script = tmp_path / f"script-{user}.txt"
        script.write_text("".join(line + "\n" for line in lines))
        with script.open() as stdin:  # each child keeps its own copy of the handle
            processes[user] = subprocess.Popen(
                command(data_dir, "chat", "--user", user),
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                env=clean_env(**database_env(data_dir)),
            )
    outputs = {}
    try:
        for user, process in processes.items():
            outputs[user] = process.communicate(timeout=TIMEOUT)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [p.returncode for p in processes.values()] == [0] * len(scripts), [
        err for _, err in outputs.values()
    ]
    assert [err for _, err in outputs.values()] == [""] * len(scripts)
    return {user: out for user, (out, _) in outputs.items()}


def test_concurrent_chats_share_one_database(tmp_path: Path, data_dir: Path) -> None:
    users = [f"kasir-{i}" for i in range(4)]
    firsts = run_together(data_dir, tmp_path, {user: up_to_email(user) for user in users})
    codes = {user: code_on_screen(out, "id", up_to_email(user)[-1]) for user, out in firsts.items()}
    assert len(mail_files(data_dir)) == len(users)  # one mail per conversation
    seconds = run_together(
        data_dir, tmp_path, {user: (codes[user], REASON, "nanti", "kirim") for user in users}
    )
    given = {user: filed_reference(out, "DEL") for user, out in seconds.items()}

    found = list_json(data_dir)
    assert len(found) == len(users)
    assert {r["customer_address"]: r["reference"] for r in found} == given
    assert len(set(given.values())) == len(users)
    assert {r["status"] for r in found} == {"awaiting_id_proof"}


# 7. files: missing, disguised, too large -----------------------------------


def test_attach_missing_file_says_so_and_chat_continues(tmp_path: Path, data_dir: Path) -> None:
    missing = tmp_path / "tidak-ada.jpg"
    result = request_chat(
        data_dir, "rina", DELETION_UP_TO_EMAIL, (REASON, f"/attach {missing}", "nanti", "kirim")
    )

    assert text("id", "terminal.file_not_found", path=missing) in result.stdout
    assert text("id", "proof.later") in result.stdout
    reference = filed_reference(result.stdout, "DEL")
    detail = show_json(data_dir, reference)
    assert detail["status"] == "awaiting_id_proof"
    assert detail["attachments"] == []


def test_pdf_named_jpg_is_sniffed_as_pdf(tmp_path: Path, data_dir: Path) -> None:
    disguised = tmp_path / "ktp scan.jpg"  # a space in the name, too
    disguised.write_bytes(PDF)
    result = request_chat(
        data_dir, "yanto", DELETION_UP_TO_EMAIL, (REASON, f'/attach "{disguised}"', "kirim")
    )

    assert text("id", "proof.received") in result.stdout
    reference = filed_reference(result.stdout, "DEL")
    detail = show_json(data_dir, reference)
    assert detail["status"] == "verifying"
    [attachment] = detail["attachments"]
    assert attachment["media_type"] == "application/pdf"
    assert attachment["size"] == len(PDF)  # PDFs are kept as they are
    assert attachment["sha256"] == hashlib.sha256(PDF).hexdigest()
    [blob] = stored_files(data_dir)
    sealed = blob.read_bytes()
    assert PDF not in sealed and PDF[:16] not in sealed and b"%PDF" not in sealed


def test_fake_image_is_refused_as_unreadable(tmp_path: Path, data_dir: Path) -> None:
    fake = tmp_path / "ktp.png"  # PNG magic, then junk: not a picture anyone could check
    fake.write_bytes(PNG[:16] + b"\0" * 200)
    result = request_chat(
        data_dir, "edo", DELETION_UP_TO_EMAIL, (REASON, f"/attach {fake}", "nanti", "kirim")
    )

    assert text("id", "proof.received") not in result.stdout
    reference = filed_reference(result.stdout, "DEL")
    detail = show_json(data_dir, reference)
    assert detail["status"] == "awaiting_id_proof"
    assert detail["attachments"] == []
    assert stored_files(data_dir) == []


def test_file_over_the_size_limit_is_refused_and_not_stored(tmp_path: Path, data_dir: Path) -> None:
    big = tmp_path / "ktp-besar.jpg"
    with big.open("wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0")
        handle.truncate(11 * 1024 * 1024)
    assert big.stat().st_size == 11 * 1024 * 1024

    result = request_chat(
        data_dir, "tono", DELETION_UP_TO_EMAIL, (REASON, f"/attach {big}", "nanti", "kirim")
    )

    out = result.stdout
    assert out.count(text("id", "hint.file_too_large", limit_mb=LIMIT_MB)) == 1
    assert text("id", "proof.received") not in out
    reference = filed_reference(out, "DEL")
    detail = show_json(data_dir, reference)
    assert detail["status"] == "awaiting_id_proof"
    assert detail["attachments"] == []
    assert stored_files(data_dir) == []
    assert sql(data_dir / "privacybot.db", "SELECT count(*) FROM attachments") == [(0,)]


# undecodable input ---------------------------------------------------------


def raw_chat(data_dir: Path, user: str, lines: Sequence[str]) -> str:
    """A chat fed bytes that are not UTF-8 (lines with lone surrogates)."""
    stdin = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    result = subprocess.run(
        command(data_dir, "chat", "--user", user),
        input=stdin,
        capture_output=True,
        env=clean_env(**database_env(data_dir)),
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8", "replace")


def test_line_that_is_not_utf8_does_not_end_the_chat(data_dir: Path) -> None:
    # Raw bytes at the menu, and "José" typed on a Latin-1 terminal as the reason.
    first = raw_chat(data_dir, "jose", ["\udcff\udcfe", *DELETION_UP_TO_EMAIL])
    code = code_on_screen(first, "id", DELETION_UP_TO_EMAIL[-1])
    raw_chat(data_dir, "jose", [code, "Jos\udce9 suka aplikasi lain", "nanti", "kirim"])
    (filed,) = list_json(data_dir)
    assert filed["reason"] == "Jos\ufffd suka aplikasi lain"


# 8. the account directory --------------------------------------------------


def accounts(data_dir: Path) -> list[tuple[str, str, str | None]]:
    return sql(  # type: ignore[return-value]
        data_dir / "privacybot.db", "SELECT email, full_name, phone FROM accounts ORDER BY email"
    )


def test_accounts_import_from_csv(tmp_path: Path, data_dir: Path) -> None:
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text(
        "email,full_name,phone\n"
        "Budi.Santoso@Example.com,Budi Santoso,+6281234567890\n"
        "sari@example.com,Sari Dewi,\n",
        encoding="utf-8",
    )
    result = run(data_dir, "accounts", "import", str(csv_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Imported 2 accounts.\n"
    assert "Traceback" not in result.stderr
    assert accounts(data_dir) == [
        ("budi.santoso@example.com", "Budi Santoso", "+6281234567890"),
        ("sari@example.com", "Sari Dewi", None),
    ]

    # Importing again updates (by email, whatever its case) rather than duplicates.
    csv_file.write_text("email,full_name,phone\nSARI@example.com,Sari Dewi Lestari,0812\n")
    again = run(data_dir, "accounts", "import", str(csv_file))
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Imported 1 accounts.\n"
    assert accounts(data_dir)[1] == ("sari@example.com", "Sari Dewi Lestari", "0812")


def test_imported_accounts_decide_who_gets_a_code(tmp_path: Path, data_dir: Path) -> None:
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text("email,full_name,phone\nbudi.santoso@example.com,Budi Santoso,\n")
    imported = run(data_dir, "accounts", "import", str(csv_file))
    assert imported.returncode == 0, imported.stderr

    # Only registered emails get a code, yet the reply does not tell which.
    unknown = "nobody@example.com"
    before = mail_files(data_dir)
    stranger = chat(data_dir, "tamu", "halo", "1", "1", "Tamu", unknown, timeout=15)
    assert mail_files(data_dir) == before  # no code for an email without an account
    prompt = text("id", "prompt.email_code", email=unknown, minutes=CODE_MINUTES)
    assert stranger.stdout.strip().endswith(prompt)
    assert text("id", "terminal.dev_mail", to=unknown, text="") not in stranger.stdout

    # A registered email, with a name that differs from the directory's: filed, flagged.
    conversation = request_chat(
        data_dir,
        "budi",
        ("halo", "1", "1", "Budi S. Wijaya", "budi.santoso@example.com"),
        (REASON, "nanti", "kirim"),
    )
    reference = filed_reference(conversation.stdout, "DEL")
    detail = show_json(data_dir, reference)
    assert detail["details"].get("name_mismatch") is True
    assert [e["kind"] for e in detail["events"]] == ["filed", "name_mismatch"]


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        pytest.param(
            "email,phone\nbudi@example.com,0812\n", ["full_name", "column"], id="no-full_name"
        ),
        pytest.param(
            "email,full_name\nsari@example.com,Sari Dewi\nbudi-at-example.com,Budi\n",
            ["line 3", "email"],
            id="bad-email",
        ),
    ],
)
def test_accounts_import_refuses_a_bad_csv(
    tmp_path: Path, data_dir: Path, content: str, mentions: list[str]
) -> None:
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text(content, encoding="utf-8")
    result = run(data_dir, "accounts", "import", str(csv_file))
    line = assert_one_line_error(result, 1)
    assert str(csv_file) in line
    for word in mentions:
        assert word in line
    # All or nothing: not even the good line before the bad one was imported.
    assert not (data_dir / "privacybot.db").exists() or accounts(data_dir) == []


def test_accounts_import_of_a_missing_file(tmp_path: Path, data_dir: Path) -> None:
    missing = tmp_path / "no-such.csv"
    line = assert_one_line_error(run(data_dir, "accounts", "import", str(missing)), 1)
    assert str(missing) in line


# 9. retention ----------------------------------------------------------------


def test_purge_deletes_what_is_due_and_prints_the_counts(
    tmp_path: Path, data_dir: Path, png_file: Path
) -> None:
    empty = run(data_dir, "purge")
    assert empty.returncode == 0, empty.stderr
    assert "Traceback" not in empty.stderr
    assert empty.stdout == "Deleted 0 ID proofs past retention and 0 abandoned drafts.\n"

    # A request whose retention has run out, one still within it, and a draft
    # (with its photo) nobody came back to.
    old = filed_reference(
        request_chat(
            data_dir, "lama", up_to_email("lama"), (REASON, f"/attach {png_file}", "kirim")
        ).stdout,
        "DEL",
    )
    recent = filed_reference(
        request_chat(
            data_dir, "baru", up_to_email("baru"), (REASON, f"/attach {png_file}", "kirim")
        ).stdout,
        "DEL",
    )
    request_chat(data_dir, "draf", up_to_email("draf"), (REASON, f"/attach {png_file}"))
    assert len(stored_files(data_dir)) == 3
    now = datetime.now(UTC)
    database = data_dir / "privacybot.db"
    for reference, days in ((old, 31), (recent, 29)):  # as if staff had closed them
        sql(
            database,
            "UPDATE requests SET retention_from = ? WHERE reference = ?",
            ((now - timedelta(days=days)).isoformat(), reference),
        )
    sql(
        database,
        "UPDATE conversations SET last_activity_at = ? WHERE address = 'draf'",
        ((now - timedelta(days=8)).isoformat(),),
    )

    result = run(data_dir, "purge")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == "Deleted 1 ID proofs past retention and 1 abandoned drafts.\n"

    [kept] = stored_files(data_dir)
    old_detail, recent_detail = show_json(data_dir, old), show_json(data_dir, recent)
    assert old_detail["attachments"][0]["deleted_at"] is not None
    assert old_detail["attachments"][0]["sha256"] == hashlib.sha256(STORED_PNG).hexdigest()
    assert [e["kind"] for e in old_detail["events"]][-1] == "id_proof_deleted"
    assert recent_detail["attachments"][0]["deleted_at"] is None
    assert "id_proof_deleted" not in [e["kind"] for e in recent_detail["events"]]
    database = data_dir / "privacybot.db"
    assert sql(database, "SELECT state FROM conversations WHERE address = 'draf'") == [("menu",)]
    live = sql(database, "SELECT token FROM attachments WHERE deleted_at IS NULL")
    assert [kept.name] == [token for (token,) in live]

    again = run(data_dir, "purge")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Deleted 0 ID proofs past retention and 0 abandoned drafts.\n"
    assert len(stored_files(data_dir)) == 1


# staff actions ------------------------------------------------------------------


def test_staff_actions_from_the_command_line(data_dir: Path, png_file: Path) -> None:
    conversation = request_chat(
        data_dir, "sari", up_to_email("sari"), (REASON, f"/attach {png_file}", "kirim")
    )
    reference = filed_reference(conversation.second.stdout, "DEL")
    done = run(data_dir, "requests", "verify", reference, "--by", "ani")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        rf"{reference}: verifying -> in_progress \(due [0-9-]{{10}}\), recorded for staff:ani\n",
        done.stdout,
    ), done.stdout
    # A new due date is at most two years ahead: 9999-12-31 froze every listing.
    year_ahead = (date.today() + timedelta(days=365)).isoformat()
    for far in ("9999-12-31", (date.today() + timedelta(days=3 * 365)).isoformat()):
        line = assert_one_line_error(
            run(data_dir, "requests", "delay", reference, "--reason", "x", "--until", far), 1
        )
        assert f"the new date {far} must be between today" in line
        assert "at most 2 years ahead" in line
    delayed = run(
        data_dir, "requests", "delay", reference, "--reason", "Arsip lama", "--until", year_ahead
    )
    assert delayed.returncode == 0, delayed.stderr
    assert f"delay, still in_progress (due {year_ahead})" in delayed.stdout
    # Illegal moves and bad arguments: one line, non-zero.
    assert_one_line_error(run(data_dir, "requests", "verify", reference), 1)
    assert_one_line_error(run(data_dir, "requests", "reject", reference), 2)  # --reason missing
    line = assert_one_line_error(
        run(data_dir, "requests", "delay", reference, "--reason", "x", "--until", "2099-13-01"), 2
    )
    assert "2099-13-01" in line
    detail = show_json(data_dir, reference)
    assert detail["status"] == "in_progress" and detail["due_date"] == year_ahead
    assert detail["overdue"] is False and detail["business_days_left"] > 200
    assert [(e["actor"], e["kind"]) for e in detail["events"]] == [
        ("customer", "filed"),
        ("staff:ani", "verify"),
        (f"staff:{getpass.getuser()}", "delay"),
    ]
    assert list_json(data_dir, "--overdue") == []
    assert [r["reference"] for r in list_json(data_dir, "--due-within", "100000")] == [reference]
    completed = run(data_dir, "requests", "complete", reference, "--by", "ani")
    assert completed.returncode == 0
    assert list_json(data_dir, "--due-within", "100000") == []  # closed requests are not due
    human = run(data_dir, "requests", "list")
    assert reference in human.stdout and "DAYS LEFT" in human.stdout


def test_api_token_is_printed_once_alone_on_the_last_line(data_dir: Path) -> None:

    from bot.infra.crypto import hash_token

    made = run(data_dir, "api-token", "create", "pos-backoffice")
    assert made.returncode == 0, made.stderr
    token = made.stdout.rstrip("\n").split("\n")[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    rows = sql(data_dir / "privacybot.db", "SELECT name, token_hash FROM api_tokens")
    assert rows == [("pos-backoffice", hash_token(token))]  # only the hash is kept
    assert_one_line_error(run(data_dir, "api-token", "create", " "), 1)


async def test_completing_a_deletion_from_the_command_line_forgets_its_customer(
    data_dir: Path,
) -> None:
    from bot.app import open_engine
    from bot.settings import load_settings
    from tests.conftest import mailbox_of
    from tests.forgetting import assert_forgotten, deletion_in_progress

    async with open_engine(load_settings(environ={}, data_dir=str(data_dir))) as engine:
        mailbox_of(engine)
        reference = await deletion_in_progress(engine)
    done = run(data_dir, "requests", "complete", reference, "--by", "ani")
    assert done.returncode == 0, done.stderr
    assert f"{reference}: in_progress -> completed" in done.stdout
    assert_forgotten(data_dir, reference)


async def test_parallel_completions_forget_side_by_side(data_dir: Path) -> None:
    """Each process forgets its customer's development mail while the other
    reads the same folder: neither may crash on a file the other removed."""
    from bot.app import open_engine
    from bot.settings import load_settings
    from tests.conftest import mailbox_of
    from tests.forgetting import deletion_in_progress

    async with open_engine(load_settings(environ={}, data_dir=str(data_dir))) as engine:
        mailbox_of(engine)
        references = [
            await deletion_in_progress(engine, f"user{n}", f"user{n}@example.com") for n in range(4)
        ]
    runs = [
        subprocess.Popen(
            command(data_dir, "requests", "complete", reference),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(**database_env(data_dir)),
        )
        for reference in references
    ]
    for run_ in runs:
        _, err = run_.communicate(timeout=TIMEOUT)
        assert run_.returncode == 0 and "Traceback" not in err, err
    assert list((data_dir / "mail").glob("*.eml")) == []


async def test_a_forgotten_terminal_customers_last_notice_leaves_no_bytes(tmp_path: Path) -> None:
    """The terminal shows the last notice itself (no worker): once shown and
    the user name wiped, no file under the data folder keeps it."""
    from bot.app import open_engine
    from bot.cli import show_pending_notifications
    from bot.requests import actions
    from bot.settings import load_settings
    from tests.conftest import mailbox_of
    from tests.forgetting import deletion_in_progress

    user = "kasir-zq9-unik"
    shown: list[str] = []

    class Terminal:
        def __init__(self) -> None:
            self.user = user

        def show_text(self, text: str) -> None:
            shown.append(text)

    data = tmp_path / "data"
    async with open_engine(load_settings(environ={}, data_dir=str(data))) as engine:
        mailbox_of(engine)
        ref = await deletion_in_progress(engine, address=user, email="zq9@example.com")
        await actions.complete(engine.services, ref, "staff:ani")
        await show_pending_notifications(engine.services, Terminal())  # type: ignore[arg-type]
        assert shown
        holding = [
            p.name for p in data.rglob("*") if p.is_file() and user.encode() in p.read_bytes()
        ]
        assert holding == []


async def test_a_forgotten_customers_undeliverable_last_notice_keeps_no_address(
    tmp_path: Path,
) -> None:
    """Given up (the customer never comes back, or blocked the bot), the last
    notice of a forgotten customer drops its address as a sent one does."""
    from bot.app import open_engine
    from bot.requests import actions
    from bot.settings import load_settings
    from tests.conftest import mailbox_of
    from tests.forgetting import deletion_in_progress

    user = "kasir-never-back"
    data = tmp_path / "data"
    async with open_engine(load_settings(environ={}, data_dir=str(data))) as engine:
        mailbox_of(engine)
        ref = await deletion_in_progress(engine, address=user, email="nb@example.com")
        await actions.complete(engine.services, ref, "staff:ani")
        async with engine.services.store.transaction() as tx:
            pending = await tx.pending_notifications("terminal", user)
            assert pending
            wiped = [
                await tx.notification_failed(n.id, "X", None, engine.services.clock())
                for n in pending
            ]
            assert (
                await tx.notification_failed(pending[0].id, "X", None, engine.services.clock())
                is False
            )
        assert any(wiped)
        await engine.services.store.scrub_wal()
        holding = [
            p.name for p in data.rglob("*") if p.is_file() and user.encode() in p.read_bytes()
        ]
        assert holding == []


@pytest.mark.sqlite_only  # SQLite's migrations before Alembic
def test_db_upgrade_migrates_once_and_says_what_it_applied(data_dir: Path) -> None:
    from bot.store.schema import HEAD
    from bot.store.schema.sqlite_history import migrations

    latest = int(HEAD)
    first = run(data_dir, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    # SQLite's own migrations up to the baseline (0019), then Alembic's revisions.
    applied = ", ".join(str(v) for v in [*(v for v, _ in migrations()), *range(20, latest + 1)])
    assert first.stdout == f"Database schema upgraded to version {latest} (applied: {applied}).\n"
    again = run(data_dir, "db", "upgrade")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"Database schema already at version {latest}.\n"
