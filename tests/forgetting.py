"""A deletion request ready to complete, and the check that its customer is
forgotten: shared by the tests of every door that completes a request (the
command line, the console, the API)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.conversation.engine import Engine
from bot.requests import actions
from tests.conftest import CODE, PNG, Chat, file_of
from tests.raw import dump, sql

NAME = "Sekar Ayuningtyas"
EMAIL = "sekar.ayu@example.com"
REASON = "Saya pindah ke kota Banjarmasin"


async def deletion_in_progress(engine: Engine, address: str = "sekar", email: str = EMAIL) -> str:
    """A deletion request with ID proof, verified by staff: the next step is
    to complete it. Returns its reference."""
    chat = Chat(engine, address=address)
    await chat.script("1", "1", NAME, email, CODE, REASON)
    await chat.say("", file_of(PNG))
    await chat.say("1")
    reference = re.search(r"DEL-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
    await actions.verify(engine.services, reference, "staff:ani")
    return reference


def assert_forgotten(data_dir: Path, reference: str) -> None:
    """What a completed deletion leaves: the compliance record, and the
    address only on the last notices still to be sent (wiped once sent).
    Read from the database and the files directly, before any housekeeping."""
    database = data_dir / "privacybot.db"
    lines = dump(database)
    ((email, name, status),) = sql(
        database, "SELECT email, full_name, status FROM requests WHERE reference = ?", (reference,)
    )
    proofs = sql(
        database,
        "SELECT token, deleted_at FROM attachments WHERE request_id = "
        "(SELECT id FROM requests WHERE reference = ?)",
        (reference,),
    )
    tokens = [token for token, _ in proofs]
    assert status == "completed" and email.startswith("hmac:") and name == ""
    for secret in (NAME, "Banjarmasin"):
        assert not [line for line in lines if secret in line], secret
    holding_email = [line for line in lines if EMAIL in line]
    assert all(
        line.startswith("notifications:") and "'pending'" in line for line in holding_email
    ), holding_email
    # The ID proof's row stays as the record that it existed; its file goes.
    assert proofs and all(deleted_at for _, deleted_at in proofs)
    assert not [p for p in (data_dir / "files").rglob("*") if p.name in tokens]
    for mail in (data_dir / "mail").glob("*.eml"):
        assert EMAIL.encode() not in mail.read_bytes(), mail
