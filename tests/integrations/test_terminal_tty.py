"""``privacybot chat`` on a real pseudo-terminal: banner, prompt, language-aware
prompt, the emailed code shown as development mail, and a clean exit."""

from __future__ import annotations

import email
import email.policy
import re
import sys
from pathlib import Path

import pexpect
import pytest

from bot.infra.catalogue import Catalogue

pytestmark = pytest.mark.slow

CATALOGUE = Catalogue.load()


def text(key: str, **params: object) -> str:
    return CATALOGUE.text("en", key).format(**params)


def test_interactive_chat_on_a_tty(tmp_path: Path) -> None:
    binary = str(Path(sys.executable).parent / "privacybot")
    data_dir = tmp_path / "data"
    child = pexpect.spawn(
        binary,
        ["--data-dir", str(data_dir), "chat", "--user", "tty"],
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 120),
    )
    try:
        child.expect("Percakapan sebagai pelanggan")
        child.expect("Anda> ")
        child.sendline("halo")
        child.expect("Ketik angka pilihan Anda")
        child.expect("Anda> ")
        child.sendline("EN")
        child.expect("continue in English")
        child.expect("You> ")  # the prompt follows the conversation's language
        child.sendline("/attach /no/such/file.jpg")
        child.expect("not found")
        child.expect("You> ")

        # A request up to the email: the code arrives as development mail on screen.
        for line, reply in (
            ("1", "prompt.consequences"),
            ("1", "prompt.full_name"),
            ("Tia Putri", "prompt.email"),
        ):
            child.sendline(line)
            child.expect_exact(text(reply).splitlines()[0])
            child.expect("You> ")
        child.sendline("tia@example.com")
        # The reply first, then the development mail (sent after the reply).
        child.expect_exact(text("prompt.email_code", email="tia@example.com", minutes=10))
        child.expect_exact(text("terminal.dev_mail", to="tia@example.com", text="").strip())
        child.expect(r"\r\n(\d{6})\r\n")
        code = child.match.group(1)
        child.expect("You> ")
        child.sendline(code)
        child.expect_exact(text("code.verified"))
        child.expect_exact(text("prompt.reason.deletion").splitlines()[0])
        child.expect("You> ")

        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    # The mail on screen is the one written to the data folder.
    [mail] = (data_dir / "mail").glob("*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    [plain] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    assert re.findall(r"^(\d{6})$", plain.get_content(), re.MULTILINE) == [code]
