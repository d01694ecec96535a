"""Identity: email codes through a real SMTP server, the account directory (CSV
and HTTP), ID proofs sealed at rest without metadata, retention, and logs
without personal data."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from aiohttp import web
from PIL import Image

from bot.app import open_engine
from bot.conversation.codes import arm_code
from bot.conversation.engine import Engine
from bot.domain.models import Channel
from bot.housekeeping import purge
from bot.infra.logs import configure as configure_logging
from bot.requests.lookup import find_request, list_requests
from bot.requests.retention import open_id_proof, purge_id_proofs
from bot.settings import Settings, load_settings
from flows.types import RequestStatus
from tests.conftest import CODE, PDF, Chat, FakeClock, file_of, mailbox_of
from tests.raw import raw, sql

REFERENCE = re.compile(r"\b(DEL|ACC|COR|RES)-[0-9A-HJKMNP-TV-Z]{6}\b")


def reference_in(text: str) -> str:
    match = REFERENCE.search(text)
    assert match, text
    return match.group(0)


# --- a real SMTP server --------------------------------------------------------


async def test_code_by_real_smtp_completes_a_request(tmp_path: Path, smtp, clock) -> None:
    inbox, port = smtp
    settings = load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        smtp_url=f"smtp://127.0.0.1:{port}",
        mail_from="JOVA POS Privasi <privasi@jovapos.test>",
    )
    async with open_engine(settings, clock=clock) as engine:
        chat = Chat(engine, address="smtp-user")
        await chat.script("2", "Siti Aminah", "siti@example.com")
        await engine.flush_mail()  # code mail goes out beside the reply, not before it
        assert len(inbox.messages) == 1
        mail = inbox.messages[0]
        assert mail["To"] == "siti@example.com"
        assert mail["From"] == "JOVA POS Privasi <privasi@jovapos.test>"
        assert mail["Content-Language"] == "id"
        code = inbox.code()
        plain = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert code in html and "Siti" not in plain + html  # nothing beyond the code
        assert code not in mail["Subject"]
        await chat.script(code, "lewati", "nanti", "1")
        assert chat.keys == ["filed.ack", "filed.proof_later"]
        record = await find_request(engine.services.store, reference_in(chat.text))
        assert record.email == "siti@example.com"
        # The code is kept only as a keyed hash.
        db = raw(engine.services.store)
        async with db.execute("SELECT digest FROM email_codes") as cur:
            (digest,) = await cur.fetchone()
        assert code not in digest and len(digest) == 64


# --- code rules, with a controllable clock ---------------------------------------


async def _at_code(chat: Chat) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com")
    assert chat.keys == ["prompt.email_code"]


async def test_five_wrong_codes_lock_the_step_then_a_new_code_works(
    engine: Engine, chat: Chat, clock: FakeClock
) -> None:
    await _at_code(chat)
    right = mailbox_of(engine).latest_code()
    wrong = "000000" if right != "000000" else "111111"
    for left in (4, 3, 2, 1):
        await chat.say(wrong)
        assert chat.keys[0] == "hint.code_wrong" and f": {left}." in chat.text
    await chat.say(wrong)
    assert chat.keys == ["hint.code_locked", "hint.offer_staff"]
    await chat.say(right)  # even the right code does not open a locked step
    assert chat.keys == ["hint.code_locked", "hint.offer_staff"]
    await chat.say("kirim ulang")
    assert chat.keys[0] == "hint.code_locked"
    clock.advance(minutes=16)
    await chat.say("kirim ulang")
    assert chat.keys == ["code.resent"]
    await chat.say(CODE)
    assert chat.keys[-1] == "prompt.reason.access"


async def test_an_expired_code_does_not_work(engine: Engine, chat: Chat, clock) -> None:
    await _at_code(chat)
    code = mailbox_of(engine).latest_code()
    clock.advance(minutes=10, seconds=1)
    await chat.say(code)
    assert chat.keys == ["hint.code_expired"]
    await chat.say("resend")
    await chat.say(CODE)
    assert chat.keys[-1] == "prompt.reason.access"


async def test_resend_at_most_three_times_sixty_seconds_apart(
    engine: Engine, chat: Chat, clock
) -> None:
    box = mailbox_of(engine)
    await _at_code(chat)
    await chat.say("kirim ulang")
    assert chat.keys == ["hint.code_wait"] and len(box.mails) == 1
    for n in range(3):
        clock.advance(seconds=61)
        await chat.say("kirim ulang")
        assert chat.keys == ["code.resent"]
        assert len(box.mails) == 2 + n
    clock.advance(seconds=61)
    await chat.say("kirim ulang")
    assert chat.keys[0] == "hint.code_no_resends" and len(box.mails) == 4
    first = re.findall(r"^(\d{6})$", box.mails[0].text, re.MULTILINE)[0]
    if first != box.latest_code():
        await chat.say(first)
        assert chat.keys[0] == "hint.code_wrong"  # only the newest code counts
    await chat.say(CODE)
    assert chat.keys[-1] == "prompt.reason.access"


# --- the account directory --------------------------------------------------------


async def _import(engine: Engine, rows: list[tuple[str, str, str | None]]) -> None:
    async with engine.services.store.transaction() as tx:
        await tx.import_accounts(rows, engine.services.clock())


@pytest.fixture
async def local_directory(settings: Settings, clock: FakeClock) -> AsyncIterator[Engine]:
    """An engine whose directory is the local table (imported before it opens)."""
    async with open_engine(settings, clock=clock) as first:
        await _import(first, [("siti@example.com", "Siti Aminah", "+6281234567890")])
    async with open_engine(settings, clock=clock) as engine:
        mailbox_of(engine)
        yield engine


async def test_unregistered_email_gets_the_same_replies_and_nothing_else(
    local_directory: Engine,
) -> None:
    engine = local_directory
    box = mailbox_of(engine)
    registered, stranger = Chat(engine, address="a"), Chat(engine, address="b")
    await registered.script("2", "Siti Aminah", "siti@example.com")
    await stranger.script("2", "Siti Aminah", "siti@example.com".replace("siti", "tidak.ada"))
    assert registered.keys == stranger.keys == ["prompt.email_code"]
    assert registered.text == stranger.text.replace("tidak.ada", "siti")
    assert [m.to for m in box.mails] == ["siti@example.com"]  # no code for the stranger
    for _ in range(5):
        await stranger.say("123456")
    assert stranger.keys == ["hint.code_locked", "hint.offer_staff"]
    await stranger.say("staf")
    assert stranger.keys == ["staff.waiting"]
    assert await list_requests(engine.services.store) == []


async def test_name_mismatch_is_flagged_not_blocking(local_directory: Engine) -> None:
    engine = local_directory
    chat = Chat(engine, address="m")
    await chat.script("2", "  sití   AMINAH ", "siti@example.com", CODE, "lewati", "nanti", "1")
    same = await find_request(engine.services.store, reference_in(chat.text))
    assert "name_mismatch" not in same.details  # case, spacing and accents ignored
    await chat.script(f"batalkan {same.reference}", "1")  # one open request per type
    assert chat.keys == ["cancel_request.done"]
    await chat.script("2", "Budi Santoso", "siti@example.com", CODE, "lewati", "nanti", "1")
    other = await find_request(engine.services.store, reference_in(chat.text))
    assert other.details["name_mismatch"] is True
    assert [e.kind for e in other.events] == ["filed", "name_mismatch"]


@pytest.fixture
async def back_office() -> AsyncIterator[tuple[str, list[dict]]]:
    """A local fake of the POS back office's account look-up."""
    seen: list[dict] = []
    accounts = {"siti@example.com": "Siti Aminah"}

    async def lookup(request: web.Request) -> web.Response:
        seen.append(
            {"email": request.query.get("email"), "auth": request.headers.get("Authorization")}
        )
        if request.headers.get("Authorization") != "Bearer s3cret":
            return web.Response(status=401)
        address = request.query.get("email", "")
        if address == "down@example.com":
            return web.Response(status=503)
        if address == "slow@example.com":
            await asyncio.sleep(1.5)  # a back office having a bad day
            return web.json_response({"email": address, "full_name": "Budi"})
        if address in accounts:
            return web.json_response({"email": address, "full_name": accounts[address]})
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/accounts", lookup)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/accounts", seen
    finally:
        await runner.cleanup()


async def test_directory_over_http(tmp_path: Path, back_office, clock) -> None:
    url, seen = back_office
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), accounts_url=url, accounts_token="s3cret"
    )
    async with open_engine(settings, clock=clock) as engine:
        box = mailbox_of(engine)
        for address, mail in (
            ("a", "siti@example.com"),
            ("b", "nobody@example.com"),
            ("c", "down@example.com"),
        ):
            await Chat(engine, address=address).script("2", "Budi", mail)
        assert [m.to for m in box.mails] == ["siti@example.com"]
        assert [s["email"] for s in seen] == [
            "siti@example.com",
            "nobody@example.com",
            "down@example.com",
        ]
        assert {s["auth"] for s in seen} == {"Bearer s3cret"}
        chat = Chat(engine, address="a")
        await chat.script(CODE, "lewati", "nanti", "1")
        record = await find_request(engine.services.store, reference_in(chat.text))
        assert record.details["name_mismatch"] is True  # "Budi" vs "Siti Aminah"


async def test_a_slow_directory_does_not_hold_up_other_customers(
    tmp_path: Path, back_office, clock
) -> None:
    import time

    url, _ = back_office
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), accounts_url=url, accounts_token="s3cret"
    )
    async with open_engine(settings, clock=clock) as engine:
        box = mailbox_of(engine)
        slow = Chat(engine, address="slow")
        await slow.script("2", "Budi")
        asking = asyncio.create_task(slow.say("slow@example.com"))
        await asyncio.sleep(0.3)  # its look-up is under way
        started = time.monotonic()
        other = Chat(engine, address="other")
        await other.say("halo")  # no database lock is held while the back office thinks
        assert time.monotonic() - started < 0.5 and other.keys == ["menu.welcome"]
        await asyncio.wait_for(asking, 10)
        assert box.mails[-1].to == "slow@example.com"  # the code still arrives
        await slow.say(box.latest_code())
        assert slow.keys[0] == "code.verified"


# --- ID proofs at rest ------------------------------------------------------------


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (30, 120, 200))
    for x in range(64):
        image.putpixel((x, x % 48), (250, 250, 0))
    exif = Image.Exif()
    exif[0x010F] = "SecretPhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "S", (6.0, 12.0, 30.0)  # Jakarta
    gps[3], gps[4] = "E", (106.0, 49.0, 0.0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


async def test_id_proofs_are_sealed_and_stripped(engine: Engine, settings: Settings) -> None:
    original = _jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
    for address, data in (("j", original), ("p", PDF)):
        chat = Chat(engine, address=address)
        await chat.script("2", "Siti Aminah", f"siti.{address}@example.com", CODE, "lewati")
        await chat.say("", file_of(data))
        await chat.say("1")
    on_disk = b"".join(p.read_bytes() for p in settings.data_dir.rglob("*") if p.is_file())
    for data in (original, PDF):
        assert data[:4] not in on_disk.replace(b"SQLite format", b"")  # magic bytes
        for start in range(0, len(data) - 64, 16):
            assert data[start : start + 64] not in on_disk
    requests = await list_requests(engine.services.store)
    by_type = {}
    for r in requests:
        record = await find_request(engine.services.store, r.reference)
        (attachment,) = record.attachments
        by_type[attachment.media_type] = attachment
    pdf = engine.services.blobs.get(by_type["application/pdf"].token)
    assert pdf == PDF
    jpeg = engine.services.blobs.get(by_type["image/jpeg"].token)
    assert hashlib.sha256(jpeg).hexdigest() == by_type["image/jpeg"].sha256
    stripped = Image.open(io.BytesIO(jpeg))
    assert not stripped.getexif().get_ifd(0x8825) and b"SecretPhoneMaker" not in jpeg
    assert stripped.size == (64, 48)


async def test_a_view_is_recorded(engine: Engine, chat: Chat) -> None:
    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati")
    await chat.say("", file_of(PDF))
    await chat.say("1")
    reference = reference_in(chat.text)
    record = await find_request(engine.services.store, reference)
    data = await open_id_proof(
        engine.services, record.attachments[0].token, "agent@jovapos.test", "check"
    )
    assert data == PDF
    record = await find_request(engine.services.store, reference)
    ((viewer, purpose, _, reason),) = record.attachments[0].views
    assert (viewer, purpose, reason) == ("agent@jovapos.test", "check", "")


async def test_retention_deletes_exactly_what_is_due(
    engine: Engine, clock: FakeClock, settings: Settings
) -> None:
    refs = []
    for n in range(4):
        chat = Chat(engine, address=f"r{n}")
        await chat.script("2", "Siti Aminah", f"siti{n}@example.com", CODE, "lewati")
        await chat.say("", file_of(PDF))
        await chat.say("1")
        refs.append(reference_in(chat.text))
    # r0 verified 31 days ago, r1 cancelled 30 days ago exactly, r2 completed 29
    # days ago, r3 still being verified.
    async with engine.services.store.transaction() as tx:
        await tx.set_request_status(refs[0], RequestStatus.IN_PROGRESS, clock.now)
    clock.advance(days=1)
    async with engine.services.store.transaction() as tx:
        await tx.set_request_status(refs[1], RequestStatus.CANCELLED, clock.now)
    clock.advance(days=1)
    async with engine.services.store.transaction() as tx:
        await tx.set_request_status(refs[2], RequestStatus.COMPLETED, clock.now)
        # a later change does not restart the clock
        await tx.set_request_status(refs[0], RequestStatus.COMPLETED, clock.now)
    clock.advance(days=29)
    assert await purge_id_proofs(engine.services) == 2
    for ref, gone in zip(refs, (True, True, False, False), strict=True):
        record = await find_request(engine.services.store, ref)
        (attachment,) = record.attachments
        assert (attachment.deleted_at is not None) is gone, ref
        path = settings.blob_dir / attachment.token[:2] / attachment.token
        assert path.exists() is not gone
        assert ("id_proof_deleted" in [e.kind for e in record.events]) is gone
    report = await purge(engine.services, engine)
    assert report.id_proofs == 0  # nothing twice


# --- logs ----------------------------------------------------------------------------


def _photo_with_exif() -> bytes:
    """An ID photo as a phone takes it: its EXIF names the camera, its owner, the time."""
    exif = Image.Exif()
    for tag, value in EXIF_TAGS.items():
        exif[tag] = value
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (180, 90, 40)).save(out, "JPEG", exif=exif)
    return out.getvalue()


# Make, Model, DateTime, Artist
EXIF_TAGS = {
    0x010F: "KameraMerekX",
    0x0110: "ModelZ900",
    0x0132: "2026:11:20 08:15:00",
    0x013B: "Budi Fotografer",
}


async def test_logs_of_a_whole_conversation_hold_no_personal_data(
    engine: Engine, settings: Settings
) -> None:
    photo = _photo_with_exif()  # made before the logs are captured
    stream = io.StringIO()
    root = logging.getLogger()
    old_level, old_handlers = root.level, list(root.handlers)
    handler = configure_logging(logging.DEBUG, stream)
    try:
        chat = Chat(engine, address="+6281234567890", channel=Channel.WHATSAPP)
        await chat.script("hapus akun", "1", "Budi Santoso", "budi.santoso@example.com")
        code = mailbox_of(engine).latest_code()
        await chat.script(code, "3")
        await chat.say("", file_of(photo, "ktp.jpg"))
        assert chat.keys == ["proof.received", "summary"]
        await chat.script("1", "5")
        logging.getLogger("test").info(
            "customer %s wrote from %s", "budi.santoso@example.com", "+6281234567890"
        )
        await asyncio.sleep(0)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        assert root.handlers == old_handlers
    logged = stream.getvalue()
    assert "message handled" in logged  # the engine did log at DEBUG/INFO
    for secret in (
        "budi.santoso@example.com",
        "Budi Santoso",
        "+6281234567890",
        "6281234567890",
        code,
        *EXIF_TAGS.values(),
        "2026:11:20",
    ):
        assert secret not in logged, secret


async def test_changing_the_email_does_not_reset_the_limits(
    engine: Engine, chat: Chat, clock: FakeClock
) -> None:
    box = mailbox_of(engine)
    await _at_code(chat)
    for _ in range(5):
        await chat.say("000000" if box.latest_code() != "000000" else "111111")
    assert chat.keys == ["hint.code_locked", "hint.offer_staff"]
    clock.advance(seconds=61)
    await chat.script("kembali", "siti@example.com")  # same email again: still locked
    assert len(box.mails) == 1
    await chat.say(CODE)
    assert chat.keys == ["hint.code_locked", "hint.offer_staff"]
    await chat.script("kembali", "lain@example.com")  # another email: still locked
    assert len(box.mails) == 1
    clock.advance(minutes=16)  # the lock is over: a new code, fresh attempts
    await chat.say("kirim ulang")
    assert [m.to for m in box.mails] == ["siti@example.com", "lain@example.com"]
    await chat.say(CODE)
    assert chat.keys[-1] == "prompt.reason.access"


async def test_files_no_record_refers_to_are_swept(
    engine: Engine, chat: Chat, settings: Settings
) -> None:
    import os
    import time

    from bot.housekeeping import purge_orphans

    await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati")
    await chat.say("", file_of(PDF))  # a live file, kept by the draft
    orphan, fresh = engine.services.blobs.new_token(), engine.services.blobs.new_token()
    engine.services.blobs.put(orphan, b"left by a process killed before its commit")
    engine.services.blobs.put(fresh, b"a transaction may still be about to record this")
    hour_ago = time.time() - 7200  # file times are real times
    for path in settings.blob_dir.rglob("*"):
        if path.is_file() and path.name != fresh:
            os.utime(path, (hour_ago, hour_ago))
    assert await purge_orphans(engine.services) == 1
    assert not engine.services.blobs.exists(orphan)
    assert engine.services.blobs.exists(fresh)
    assert len([p for p in settings.blob_dir.rglob("*") if p.is_file()]) == 2


async def test_a_code_never_verifies_another_email(engine: Engine, chat: Chat) -> None:
    box = mailbox_of(engine)
    await _at_code(chat)  # a code for siti@example.com
    own = box.latest_code()
    await chat.script("kembali", "korban@example.com")  # within the minute: no new code
    assert len(box.mails) == 1
    await chat.say(own)
    assert chat.keys != ["code.verified"] and "code.verified" not in chat.keys
    async with engine.services.store.transaction() as tx:
        c = await tx.get_conversation(Channel.TERMINAL, chat.address)
    assert c is not None and c.state == "access.email_code"
    assert "email_verified" not in c.slots


async def test_an_import_takes_effect_without_a_restart(engine: Engine) -> None:
    box = mailbox_of(engine)
    await Chat(engine, address="a").script("2", "Siti", "siapa.saja@example.com")
    assert len(box.mails) == 1  # no directory yet: every email counts
    await _import(engine, [("siti@example.com", "Siti Aminah", None)])
    await Chat(engine, address="b").script("2", "Siti", "siapa.saja@example.com")
    assert len(box.mails) == 1  # now only imported accounts get a code
    await Chat(engine, address="c").script("2", "Siti", "siti@example.com")
    assert len(box.mails) == 2


async def test_one_mailbox_gets_at_most_ten_codes_an_hour_from_all_phones(
    engine: Engine, clock: FakeClock
) -> None:
    box = mailbox_of(engine)
    phones = [Chat(engine, address=f"+62812000000{i:02d}") for i in range(12)]
    for phone in phones[:11]:
        await phone.script("2", "Siti Aminah", "siti@example.com")
        assert phone.keys[-1] == "prompt.email_code"  # the same answer every time
    assert [m.to for m in box.mails] == ["siti@example.com"] * 10  # not an eleventh
    await phones[10].say("123456")  # no code was mailed to this phone: none can match
    assert phones[10].keys[0] == "hint.code_wrong"
    clock.advance(minutes=61)
    await phones[11].script("2", "Siti Aminah", "siti@example.com")
    assert len(box.mails) == 11  # an hour later, codes flow again
    await phones[11].say(box.latest_code())
    assert phones[11].keys[0] == "code.verified"
    # Another mailbox was never limited by Siti's.
    await Chat(engine, address="+6281300000001").script("2", "Budi", "budi@example.com")
    assert box.mails[-1].to == "budi@example.com"
    # The hourly purge drops what the limit no longer needs (after a day).
    from bot.housekeeping import purge

    mailbox = engine.services.keyring.code_digest("siti@example.com", "code-mail")
    clock.advance(days=2)
    await purge(engine.services, engine)
    async with engine.services.store.transaction(readonly=True) as tx:
        assert await tx.code_mails_since(mailbox, clock.now - timedelta(days=30)) == 0


async def test_forgetting_tolerates_files_another_process_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``privacybot requests complete`` run side by side: each forgets the
    development mail of its own customer, and lists (then reads) the other's
    files while that process removes them."""
    import threading

    from bot.infra.blobs import FileBlobStore
    from bot.infra.mail import FileMailer, Mail

    mailer = FileMailer(tmp_path / "mail", "privacybot@localhost")
    for to in ["a@example.com"] * 150 + ["b@example.com"] * 150 + ["c@example.com"]:
        await mailer.send(Mail(to, "Kode", "123456", "<p>123456</p>", "id"))
    # Listed by one process, removed by another before it is read.
    listed = Path.glob

    def with_vanished(self: Path, pattern: str):  # type: ignore[no-untyped-def]
        yield self / "20260101T000000-vanished.eml"
        yield self / "00" / ("0" * 32)
        yield from listed(self, pattern)

    monkeypatch.setattr(Path, "glob", with_vanished)
    assert mailer.forget("c@example.com") == 1
    blobs = FileBlobStore(tmp_path / "files", b"k" * 32)
    blobs.open()
    blobs.put(blobs.new_token(), b"x")
    assert len(blobs.stored(older_than=-60)) == 1
    monkeypatch.setattr(Path, "glob", listed)

    # And for real: two forgets of the same mail at once, in two threads.
    failures: list[BaseException] = []

    def forget(address: str) -> None:
        try:
            mailer.forget(address)
        except BaseException as exc:  # the test reports any
            failures.append(exc)

    threads = [threading.Thread(target=forget, args=(a,)) for a in ("a@example.com",) * 2]
    threads += [threading.Thread(target=forget, args=(a,)) for a in ("b@example.com",) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert list((tmp_path / "mail").glob("*.eml")) == []


async def _worker_sends(engine: Engine, box, count: int) -> None:  # type: ignore[no-untyped-def]
    """Run the real outbox worker until ``count`` mails arrived, and a while
    longer (to see nothing is sent twice)."""
    from bot.core import Core
    from bot.delivery.notifications import run_worker

    core = Core(engine.services.settings)
    core.attach(engine)
    worker = asyncio.create_task(
        run_worker(core.services, core.channels, partial(arm_code, core.services), every=0.02)
    )
    try:
        for _ in range(250):
            if len(box.mails) >= count:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        core.attach(None)


async def test_a_code_mail_survives_a_process_killed_right_after_the_commit(
    settings: Settings, clock: FakeClock
) -> None:
    from bot.domain.models import InboundMessage

    async with open_engine(settings, clock=clock) as first:
        box = mailbox_of(first)
        await Chat(first, address="siti").script("2", "Siti Aminah")

        async def dies(ids: list[int]) -> None:
            """The process is killed: nothing after the message's commit runs."""

        first._send_queued = dies  # type: ignore[method-assign]
        replies = await first.handle(
            InboundMessage(Channel.TERMINAL, "siti", "the-email", "siti@example.com")
        )
        assert [r.key for r in replies] == ["prompt.email_code"]  # "we sent you a code"
        await first.flush_mail()
        assert box.mails == []
    ((sealed,),) = sql(settings.database_path, "SELECT sealed FROM mail_outbox")
    # Queued with the commit, sealed: neither the code nor the address in clear.
    assert sealed.startswith("sealed:v1:") and "siti@example.com" not in sealed

    async with open_engine(settings, clock=clock) as second:  # restarted
        box = mailbox_of(second)
        await _worker_sends(second, box, 1)
        assert [m.to for m in box.mails] == ["siti@example.com"]  # once
        chat = Chat(second, address="siti")
        await chat.say(box.latest_code())
        assert chat.keys[0] == "code.verified"
        await _worker_sends(second, box, 1)  # the worker runs on: nothing more
        assert len(box.mails) == 1


async def test_a_batch_that_outlasts_its_lease_sends_each_mail_once(
    engine: Engine, clock: FakeClock
) -> None:
    """Two workers on one outbox (two processes, or the after-commit send and
    the outbox worker): the first claims a batch whose sending outlasts the
    lease, the second takes the rows that lease let go. Each mail still goes
    exactly once: the first renews a row's lease before sending it, and skips
    a row the second holds now."""
    from bot.delivery.mail_outbox import queue_mail, send_due_mail
    from bot.infra.mail import Mail

    now = clock()
    addresses = [f"c{n}@example.com" for n in range(3)]
    async with engine.services.store.transaction() as tx:
        for n, to in enumerate(addresses):
            mail = Mail(to, "Kode", "123456", "<p>123456</p>", "id", f"lease-{n}")
            await queue_mail(tx, engine.services, "code", mail, now, now + timedelta(hours=1))
    sent: list[str] = []
    sending = asyncio.Event()

    async def slow(mail: Mail) -> None:
        """A slow SMTP server: one mail fits in the lease, three do not."""
        sending.set()
        clock.advance(seconds=90)
        await asyncio.sleep(0.01)  # meanwhile the other worker runs
        sent.append(mail.to)

    engine.services.mailer.send = slow  # type: ignore[method-assign]
    first = asyncio.create_task(
        send_due_mail(engine.services, arm=partial(arm_code, engine.services))
    )
    await sending.wait()  # the first worker holds the whole batch now
    while not first.done():  # the second polls, as the outbox worker does
        await send_due_mail(engine.services, arm=partial(arm_code, engine.services))
        await asyncio.sleep(0.001)
    await first
    assert sorted(sent) == addresses  # each once
    assert (
        await send_due_mail(engine.services, arm=partial(arm_code, engine.services)) == 0
    )  # and nothing is left queued


async def test_a_reply_does_not_wait_for_the_mailer(settings: Settings, clock: FakeClock) -> None:
    """Registered or not, the email step answers at once: the code mail (and
    the directory look-up) come after the reply, whatever the mailer."""
    import time

    from bot.domain.models import InboundMessage
    from bot.infra.mail import FileMailer, Mail

    class SlowMailer(FileMailer):
        async def send(self, mail: Mail) -> None:
            await asyncio.sleep(0.5)
            await super().send(mail)

    async with open_engine(settings, clock=clock) as engine:
        engine.services.mailer = SlowMailer(settings.data_dir / "mail", settings.mail_from)
        box = mailbox_of(engine)
        await _import(engine, [("siti@example.com", "Siti Aminah", None)])
        answered = {}
        for n, email in enumerate(("siti@example.com", "nobody@example.com")):
            await Chat(engine, address=f"c{n}").script("2", "Siti Aminah")
            started = time.monotonic()
            replies = await engine.handle(
                InboundMessage(Channel.TERMINAL, f"c{n}", f"email-{n}", email)
            )
            answered[email] = time.monotonic() - started
            assert [r.key for r in replies] == ["prompt.email_code"]
        assert all(seconds < 0.2 for seconds in answered.values()), answered
        await engine.flush_mail()
        assert [m.to for m in box.mails] == ["siti@example.com"]  # the code still went


@pytest.mark.sqlite_only  # SQLite's migrations before Alembic
async def test_codes_typed_before_the_upgrade_are_masked_by_its_migration(tmp_path: Path) -> None:
    """Messages recorded before codes were kept masked are masked by migration 0012."""

    from bot.app import open_core
    from bot.settings import load_settings
    from bot.store.schema.sqlite_history import migrations, statements

    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    settings.database_path.parent.mkdir(parents=True)
    db = sqlite3.connect(settings.database_path, isolation_level=None)
    # A database built by the SQL migrations before 0012 (before Alembic).
    db.create_function("casefold", 1, lambda v: v.casefold() if isinstance(v, str) else v)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for version, script in migrations():
        if version >= 12:
            break
        for statement in statements(script):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (?, '2026-01-01')", (version,))
    db.execute(
        "INSERT INTO conversations (channel, address, state, language, updated_at, "
        "created_at) VALUES ('terminal', 'old', 'menu', 'id', '2026-01-01', '2026-01-01')"
    )
    conversation = db.execute("SELECT id FROM conversations").fetchone()[0]
    for external, text, state in (
        ("a", "482 913", "access.email_code"),
        ("b", "123456", "status_code"),
        ("c", "nomor 7", "menu"),
    ):
        db.execute(
            "INSERT INTO inbound_messages (conversation_id, channel, external_id, text, "
            "state_before, state_after, received_at) VALUES (?, 'terminal', ?, ?, ?, 'menu', "
            "'2026-01-01')",
            (conversation, external, text, state),
        )
    db.close()
    async with open_core(settings):
        pass
    db = sqlite3.connect(settings.database_path)
    texts = dict(db.execute("SELECT external_id, text FROM inbound_messages").fetchall())
    db.close()
    assert texts == {"a": "••• •••", "b": "••••••", "c": "nomor 7"}
