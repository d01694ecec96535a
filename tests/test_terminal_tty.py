"""``privacybot chat`` on a real pseudo-terminal: banner, prompt, language-aware
prompt, and a clean exit."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.slow


def test_interactive_chat_on_a_tty(tmp_path: Path) -> None:
    binary = str(Path(sys.executable).parent / "privacybot")
    child = pexpect.spawn(
        binary,
        ["--data-dir", str(tmp_path / "data"), "chat", "--user", "tty"],
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
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
