"""Whole conversations through the real engine and a real SQLite database."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import open_engine
from bot.conversation.engine import Engine
from bot.domain.models import Channel
from bot.requests.lookup import find_request, list_requests
from bot.settings import Settings
from flows.types import RequestStatus
from tests.conftest import CODE, JPEG, PDF, PNG, WEBP, Chat, FakeClock, file_of, mailbox_of

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

REFERENCE = re.compile(r"\b(DEL|ACC|COR|RES)-[0-9A-HJKMNP-TV-Z]{6}\b")


def reference_in(text: str) -> str:
    match = REFERENCE.search(text)
    assert match, text
    return match.group(0)


SCRIPTS = {
    ("deletion", "id"): [
        "halo",
        "hapus akun",
        "ya",
        "Budi Santoso",
        "budi@example.com",
        CODE,
        "3",
        JPEG,
        "1",
    ],
    ("deletion", "en"): [
        "hello",
        "EN",
        "delete my account",
        "yes",
        "Budi Santoso",
        "budi@example.com",
        CODE,
        "I moved to another city",
        PNG,
        "confirm",
    ],
    ("access", "id"): [
        "halo",
        "salinan data",
        "Siti Aminah",
        "siti@example.com",
        CODE,
        "lewati",
        WEBP,
        "kirim",
    ],
    ("access", "en"): [
        "/en",
        "2",
        "Siti Aminah",
        "siti@example.com",
        CODE,
        "I want to see it",
        PDF,
        "1",
    ],
    ("correction", "id"): [
        "koreksi",
        "Andi Wijaya",
        "andi@example.com",
        CODE,
        "4",
        "Toko Andi Jaya",
        JPEG,
        "1",
    ],
    ("correction", "en"): [
        "english",
        "3",
        "Andi Wijaya",
        "andi@example.com",
        CODE,
        "2",
        "andi.w@example.com",
        PNG,
        "submit",
    ],
    ("restriction", "id"): [
        "batasi pemrosesan",
        "Dewi Lestari",
        "dewi@example.com",
        CODE,
        "1, 4",
        "Saya tidak ingin data dibagikan",
        JPEG,
        "1",
    ],
    ("restriction", "en"): [
        "EN",
        "restrict processing",
        "Dewi Lestari",
        "dewi@example.com",
        CODE,
        "2",
        "Please stop profiling me",
        PDF,
        "1",
    ],
}
PREFIX = {"deletion": "DEL", "access": "ACC", "correction": "COR", "restriction": "RES"}


@pytest.mark.parametrize(("rtype", "language"), sorted(SCRIPTS))
async def test_full_request_in_both_languages(
    engine: Engine, settings: Settings, rtype: str, language: str
) -> None:
    chat = Chat(engine, address=f"cust-{rtype}-{language}")
    for step in SCRIPTS[(rtype, language)]:
        if isinstance(step, bytes):
            await chat.say("", file_of(step))
        else:
            await chat.say(step)
    assert chat.keys == ["filed.ack", "filed.proof_received"]
    reference = reference_in(chat.text)
    assert reference.startswith(PREFIX[rtype] + "-")
    if language == "id":
        assert "12 Januari 2027" in chat.text
    else:
        assert "Estimated completion: 12 January 2027" in chat.text
        assert "Next steps" in chat.text

    record = await find_request(engine.services.store, reference)
    assert record.type.value == rtype
    assert record.status is RequestStatus.VERIFYING
    assert record.language == language
    assert record.channel is Channel.TERMINAL
    assert record.customer_address == chat.address
    assert record.due_date.isoformat() == "2027-01-12"
    assert [e.kind for e in record.events] == ["filed"]
    (proof,) = record.attachments
    stored = settings.blob_dir / proof.token[:2] / proof.token
    plain = engine.services.blobs.get(proof.token)
    assert proof.sha256 == hashlib.sha256(plain).hexdigest()
    assert plain[:16] not in stored.read_bytes()  # sealed on disk
    assert "." not in stored.name  # opaque name, no extension


async def test_deletion_reason_choice_is_stored_as_words(engine: Engine, chat: Chat) -> None:
    await chat.script("1", "1", "Budi Santoso", "budi@example.com", CODE, "2", "nanti", "1")
    record = await find_request(engine.services.store, reference_in(chat.text))
    assert record.reason == "Pindah ke aplikasi lain"
    assert record.details["reason_code"] == "switching"
    assert record.status is RequestStatus.AWAITING_ID_PROOF
    assert record.attachments == ()


async def test_id_proof_sent_later_moves_the_request_on(engine: Engine, chat: Chat) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1")
    reference = reference_in(chat.text)
    assert chat.keys == ["filed.ack", "filed.proof_later"]
    await chat.say("", file_of(JPEG))
    assert chat.keys == ["proof.attached_to"]
    record = await find_request(engine.services.store, reference)
    assert record.status is RequestStatus.VERIFYING
    assert [e.kind for e in record.events] == ["filed", "id_proof_received"]
    assert len(record.attachments) == 1


async def test_status_is_told_only_to_the_address_that_filed(
    engine: Engine, clock: FakeClock
) -> None:
    owner = Chat(engine, address="owner")
    await owner.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1")
    reference = reference_in(owner.text)

    await owner.script("5", reference.lower())
    assert owner.keys == ["status.answer"]
    assert "menunggu bukti identitas" in owner.text and "12 Januari 2027" in owner.text

    box = mailbox_of(engine)
    mails = len(box.mails)
    stranger = Chat(engine, address="stranger")
    # A made-up reference and an existing one with the wrong email get the same
    # answers, and no mail goes anywhere.
    await stranger.script("5", "ACC-ZZZZZZ")
    made_up = [stranger.text.replace("ACC-ZZZZZZ", "X")]
    await stranger.say("siti@example.com")
    made_up.append(stranger.text.replace("ACC-ZZZZZZ", "X"))
    await stranger.script("batal", "5", reference)
    existing = [stranger.text.replace(reference, "X")]
    await stranger.say("orang.lain@example.com")
    existing.append(stranger.text.replace(reference, "X"))
    assert made_up == existing
    assert stranger.keys == ["prompt.status_code"]
    assert len(box.mails) == mails
    # The owner's email, from another address: a code, then the status (after the
    # minute between codes that also holds when the email is changed).
    clock.advance(seconds=61)
    await stranger.script("kembali", "siti@example.com")
    assert len(box.mails) == mails + 1 and box.mails[-1].to == "siti@example.com"
    await stranger.say(CODE)
    assert stranger.keys == ["status.answer"] and reference in stranger.text


@pytest.mark.parametrize(
    ("language", "ask", "status_word", "other"),
    [
        ("id", "cek status {ref}", "menunggu bukti identitas", "kepada pemiliknya"),
        ("en", "what is the status of {ref}?", "waiting for your ID proof", "with its owner"),
    ],
)
async def test_status_and_reference_in_one_message(
    engine: Engine, language: str, ask: str, status_word: str, other: str
) -> None:
    """ "status DEL-…" answers at once, under the same rules as the reference alone."""
    owner = Chat(engine, address=f"owner-{language}")
    if language == "en":
        await owner.say("english")
    await owner.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1")
    reference = reference_in(owner.text)
    await owner.say(ask.format(ref=reference.lower()))
    assert owner.keys == ["status.answer"]
    assert reference in owner.text and status_word in owner.text

    box = mailbox_of(engine)
    mails = len(box.mails)
    stranger = Chat(engine, address=f"stranger-{language}")
    if language == "en":
        await stranger.say("english")
    await stranger.say(ask.format(ref=reference))
    assert stranger.keys == ["prompt.status_email"] and other in stranger.text
    assert status_word not in stranger.text and len(box.mails) == mails
    await stranger.script("siti@example.com", CODE)
    assert stranger.keys == ["status.answer"] and status_word in stranger.text


async def test_duplicate_message_id_is_processed_once(engine: Engine, chat: Chat) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti")
    first = await chat.say("1", message_id="wamid.123")
    again = await chat.say("1", message_id="wamid.123")
    assert [m.text for m in again] == [m.text for m in first]
    assert len(await list_requests(engine.services.store)) == 1
    # The same id on another channel is a different message.
    other = Chat(engine, address=chat.address, channel=Channel.TELEGRAM)
    await other.say("halo", message_id="wamid.123")
    assert other.keys == ["menu.welcome"]


async def test_duplicate_file_message_stores_the_file_once(
    engine: Engine, chat: Chat, settings: Settings
) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati")
    await chat.say("", file_of(JPEG), message_id="m-file")
    await chat.say("", file_of(JPEG), message_id="m-file")
    assert chat.keys == ["proof.received", "summary"]
    assert len(list(settings.blob_dir.rglob("*"))) == 2  # one folder, one file


async def test_bad_inputs_never_break_the_conversation(engine: Engine, chat: Chat) -> None:
    await chat.script("2")
    for text, key in [
        ("", "hint.empty"),
        ("x" * 10_000, "hint.too_long"),
        ("😀😀😀", "hint.name_chars"),
        ("\x00\x01\x07\u200b", "hint.empty"),
        ("\x1b[31mBudi", "hint.name_chars"),
    ]:
        await chat.say(text)
        assert chat.keys[0] == key, text
    assert chat.keys == ["hint.name_chars", "staff.handover"]  # the third failed answer
    await chat.say("menu")  # back from the queue for staff to the step it left
    assert chat.keys == ["staff.back_to_bot", "prompt.full_name"]
    await chat.say("محمد علي")  # right-to-left letters are a fine name
    assert chat.keys == ["prompt.email"]
    await chat.script("siti@example.com", CODE)
    await chat.say("alasan dengan emoji 🙏 dan \u202eteks terbalik")
    assert chat.keys[-1] == "prompt.id_proof"
    await chat.say("", file_of(PDF, "ktp.jpg"))  # a PDF named .jpg is still a PDF
    assert chat.keys == ["proof.received", "summary"]
    await chat.say("1")
    record = await find_request(engine.services.store, reference_in(chat.text))
    assert record.full_name == "محمد علي"
    assert record.reason == "alasan dengan emoji 🙏 dan teks terbalik"
    assert record.attachments[0].media_type == "application/pdf"


async def test_oversized_message_is_stored_truncated(engine: Engine, chat: Chat) -> None:
    await chat.say("y" * 10_000)
    assert "4000" in chat.text
    async with engine.services.store.transaction() as tx:
        conversation = await tx.get_conversation(Channel.TERMINAL, chat.address)
    assert conversation is not None


async def test_big_and_fake_files_are_refused_and_not_stored(
    engine: Engine, chat: Chat, settings: Settings
) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati")
    big = JPEG + b"\x00" * (11 * 1024 * 1024)
    await chat.say("", file_of(big[: settings.max_attachment_bytes + 1]))
    assert chat.keys == ["hint.file_too_large"]
    assert "10 MB" in chat.text
    await chat.say("", file_of(b"MZ\x90\x00 not an image", "ktp.jpg"))
    assert chat.keys == ["hint.file_unsupported_type"]
    await chat.say("", file_of(b"", "kosong.png"))
    assert chat.keys[0] == "hint.file_empty"
    assert not [p for p in settings.blob_dir.rglob("*") if p.is_file()]


async def test_handed_to_staff_on_a_friday_night_the_customer_learns_when(
    engine: Engine, chat: Chat, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # Friday 19:00 WIB
    await chat.script("halo", "apa ini", "hmm oke")  # two messages the bot cannot place
    assert chat.keys == ["staff.handover", "staff.after_hours"]
    assert "Senin, 30 November 2026 09.00 WIB" in chat.last[1].text
    await chat.script("menu", "EN", "staff")
    assert chat.keys == ["staff.waiting", "staff.after_hours"]
    assert "Monday 30 November 2026, 09:00 WIB" in chat.last[1].text
    async with engine.services.store.transaction() as tx:
        c = await tx.get_conversation(Channel.TERMINAL, chat.address)
        assert c is not None
        assert await tx.escalation_reasons([c.id]) == {c.id: "customer_request"}
        hour = timedelta(hours=1)  # claimed as the announcer claims them
        pending = await tx.claim_escalations(clock.now - hour, clock.now, clock.now + hour, 10)
    assert [(e.conversation_id, e.reason) for e in pending] == [
        (c.id, "unplaced"),
        (c.id, "customer_request"),
    ]


async def test_cancel_back_help_and_staff_at_several_steps(engine: Engine, chat: Chat) -> None:
    await chat.script("1", "bantuan")
    assert chat.keys == ["help.consequences", "help.commands"]
    await chat.script("1", "Budi", "help")
    assert chat.keys == ["help.email", "help.commands"]
    await chat.say("kembali")
    assert chat.keys == ["prompt.full_name"]
    await chat.say("staf")
    assert chat.keys == ["staff.waiting"]
    async with engine.services.store.transaction() as tx:
        c = await tx.get_conversation(Channel.TERMINAL, chat.address)
    assert c is not None and c.state == "staff" and c.waiting_staff_since is not None
    await chat.say("menu")
    assert chat.keys == ["staff.back_to_bot", "prompt.full_name"]
    async with engine.services.store.transaction() as tx:
        c = await tx.get_conversation(Channel.TERMINAL, chat.address)
    assert c is not None and c.waiting_staff_since is None
    await chat.script("Budi", "budi@example.com", CODE, "1", "nanti")
    assert chat.keys[-1] == "summary"
    await chat.say("batal")
    assert chat.keys == ["cancel.done", "menu.prompt"]
    assert await list_requests(engine.services.store) == []
    await chat.say("batal")
    assert chat.keys == ["cancel.nothing", "menu.prompt"]


async def test_cancelled_draft_removes_its_file(
    engine: Engine, chat: Chat, settings: Settings
) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati")
    await chat.say("", file_of(PNG))
    files = [p for p in settings.blob_dir.rglob("*") if p.is_file()]
    assert len(files) == 1
    await chat.say("batal")
    assert not files[0].exists()


async def test_conversation_resumes_after_restart(settings: Settings, clock: FakeClock) -> None:
    async with open_engine(settings, clock=clock) as first:
        chat = Chat(first, address="restart")
        mailbox_of(first)
        await chat.script("3", "Andi Wijaya", "andi@example.com")
        code = mailbox_of(first).latest_code()
    async with open_engine(settings, clock=clock) as second:
        chat = Chat(second, address="restart")
        await chat.script(code, "1")
        assert chat.keys == ["prompt.correction_value"]
        await chat.script("Andi Wijaya Kusuma", "nanti", "1")
        assert chat.keys == ["filed.ack", "filed.proof_later"]


async def test_idle_draft_resume_and_expiry_with_clock(
    engine: Engine, chat: Chat, clock: FakeClock, settings: Settings
) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati")
    await chat.say("", file_of(PNG))
    clock.advance(hours=25)
    await chat.say("1")
    assert chat.keys == ["prompt.resume"]
    assert "salinan data" in chat.text
    await chat.say("1")
    assert chat.keys == ["summary"]
    clock.advance(days=8)
    await chat.say("halo")
    assert chat.keys[0] == "draft.expired"
    assert not any(p.is_file() for p in settings.blob_dir.rglob("*"))
    async with engine.services.store.transaction() as tx:
        c = await tx.get_conversation(Channel.TERMINAL, chat.address)
    assert c is not None and c.slots == {}


async def test_nothing_is_kept_when_the_transaction_fails(
    engine: Engine, chat: Chat, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati")
    from bot.store.sql.transaction import SqlTransaction

    async def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SqlTransaction, "record_outbound", boom)
    with pytest.raises(RuntimeError):
        await chat.say("", file_of(JPEG), message_id="crashy")
    monkeypatch.undo()
    # No file left behind, state unchanged, message not marked as seen.
    assert not any(p.is_file() for p in settings.blob_dir.rglob("*"))
    async with engine.services.store.transaction() as tx:
        c = await tx.get_conversation(Channel.TERMINAL, chat.address)
        assert await tx.find_inbound(Channel.TERMINAL, "crashy") is None
    assert c is not None and c.state == "access.id_proof"
    # The channel's retry of the same message then succeeds once.
    await chat.say("", file_of(JPEG), message_id="crashy")
    assert chat.keys == ["proof.received", "summary"]


async def test_reference_collision_is_retried(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.conversation.engine as engine_module

    one, two = Chat(engine, address="one"), Chat(engine, address="two")
    await one.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti")
    await two.script("2", "Budi Santoso", "budi@example.com", CODE, "lewati", "nanti")
    suffixes = iter(["AAAAAA", "AAAAAA", "AAAAAA", "BBBBBB"])
    monkeypatch.setattr(engine_module, "new_reference_suffix", lambda: next(suffixes))
    await one.say("1")
    await two.say("1")
    refs = sorted(r.reference for r in await list_requests(engine.services.store))
    assert refs == ["ACC-AAAAAA", "ACC-BBBBBB"]


async def test_language_choice_persists(engine: Engine, settings: Settings) -> None:
    await engine.set_language(Channel.TERMINAL, "eng", "en")
    chat = Chat(engine, address="eng")
    await chat.say("hello")
    assert "Hello! This is the JOVA POS privacy desk" in chat.text


def test_data_folder_layout(settings: Settings, tmp_path: Path) -> None:
    assert settings.database_path == tmp_path / "data" / "privacybot.db"


async def test_abandoned_drafts_are_swept_with_their_files(
    engine: Engine, clock: FakeClock, settings: Settings
) -> None:
    gone = Chat(engine, address="gone")
    await gone.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati")
    await gone.say("", file_of(PNG))
    staff = Chat(engine, address="staff")
    await staff.script("2", "Budi", "staf")
    clock.advance(days=6)
    fresh = Chat(engine, address="fresh")
    await fresh.script("2", "Andi")
    assert await engine.discard_stale_drafts() == 0
    clock.advance(days=2)
    assert await engine.discard_stale_drafts() == 1
    assert not [p for p in settings.blob_dir.rglob("*") if p.is_file()]
    async with engine.services.store.transaction() as tx:
        swept = await tx.get_conversation(Channel.TERMINAL, "gone")
        waiting = await tx.get_conversation(Channel.TERMINAL, "staff")
        kept = await tx.get_conversation(Channel.TERMINAL, "fresh")
    assert swept is not None and swept.state == "menu"
    assert swept.slots == {"_notice": "draft.expired"}  # nothing of the draft is left
    assert waiting is not None and waiting.state == "staff"  # staff decide
    assert kept is not None and kept.state == "access.email"
    await gone.say("halo")
    assert gone.keys == ["draft.expired", "menu.prompt"]  # the customer is told
