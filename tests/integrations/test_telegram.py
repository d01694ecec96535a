"""Telegram end to end: the real python-telegram-bot ``Application`` inside the real
Starlette app under uvicorn, talking the Bot API wire format to a local fake
(long polling by default, a secret-protected webhook when configured)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bot.domain.models import Channel, OutboundMessage, RecordedReply
from bot.infra.images import strip_metadata
from bot.requests.lookup import find_request, list_requests
from flows.types import RequestStatus
from integrations.telegram import TelegramAdapter
from tests.conftest import CODE, JPEG, PDF, FakeClock, Mailbox, mailbox_of, telegram_settings
from tests.fakes.telegram_api import FakeTelegram
from tests.raw import raw
from tests.server import RunningServer, running_server

CHAT = 700_100_001
OTHER_CHAT = 700_100_002
GROUP_CHAT = -4_700_100_003  # a basic group (supergroups have -100... ids)
WEBHOOK_URL = "https://bot.jovapos.test/webhooks/telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET = "privacybot-webhook-Secret_123"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REFERENCE = re.compile(r"\b(DEL|ACC|COR|RES)-[0-9A-HJKMNP-TV-Z]{6}\b")
CALLBACK = re.compile(r"^[a-z_]+(\.[a-z_]+)?\|[^|]+$")
# Real images (ID proofs are decoded to strip their metadata): what is stored is
# the re-encoded picture, deterministic, so its size and hash are known up front.
STORED_JPEG = strip_metadata(JPEG, "image/jpeg")
MB = 1024 * 1024


@dataclass
class Telegram:
    """The fake Bot API, the running server, and a few ways to talk to the bot."""

    fake: FakeTelegram
    server: RunningServer
    http: httpx.AsyncClient
    webhook: bool
    mailbox: Mailbox
    pressed: list[str] = field(default_factory=list)

    @property
    def store(self):
        return self.server.core.services.store

    @property
    def adapter(self) -> TelegramAdapter:
        (adapter,) = self.server.core.channels.adapters
        assert isinstance(adapter, TelegramAdapter)
        return adapter

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        headers = {} if secret is None else {SECRET_HEADER: secret}
        return await self.http.post(self.server.url + WEBHOOK_PATH, json=update, headers=headers)

    async def deliver(self, update: dict[str, Any]) -> dict[str, Any]:
        """Hand an update to the bot the way Telegram would in this mode; the
        update as delivered (with its update_id)."""
        update = self.fake.stamp(update)
        if self.webhook:
            response = await self.post(update)
            assert response.status_code == 200, response.text
        else:
            self.fake.push_update(update)
        return update

    async def say(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        """Deliver one update, wait until it is handled and its replies sent;
        the sendMessage calls it caused."""
        before = len(self.fake.sent)
        await self.handled(await self.deliver(update))
        await self.server.core.engine.flush_mail()  # the code mail goes after the replies
        return self.fake.sent[before:]

    async def handled(self, update: dict[str, Any], timeout: float = 10) -> list[RecordedReply]:
        """The recorded replies of an update, once all of them are marked sent."""
        key = message_key(update)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with self.store.transaction(readonly=True) as tx:
                inbound = await tx.find_inbound(Channel.TELEGRAM, key)
                replies = await tx.replies_to(inbound) if inbound is not None else None
            if replies is not None and all(r.sent for r in replies):
                return replies
            if loop.time() > deadline:
                raise TimeoutError(f"{key} not handled: {self.fake.sent!r}")
            await asyncio.sleep(0.01)

    async def text(self, text: str, chat: int = CHAT, language: str = "id") -> list[str]:
        """Type ``text`` (``CODE``: the code last mailed) and wait for the replies."""
        if text == CODE:
            text = self.mailbox.latest_code()
        return texts(await self.say(self.fake.text_update(chat, text, language_code=language)))

    def callback(self, data: str, chat: int = CHAT, language: str = "id", **kw: Any) -> dict:
        """A button press on the bot's latest message (or ``message_id``)."""
        update = self.fake.callback_update(chat, data, language_code=language, **kw)
        self.pressed.append(update["callback_query"]["id"])
        return update

    async def press(self, data: str, chat: int = CHAT, language: str = "id") -> list[str]:
        return texts(await self.say(self.callback(data, chat, language)))

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the database (either backend) as staff tools would."""
        found = await raw(self.server.core.services.store).execute_fetchall(sql, params)
        return [tuple(row) for row in found]


def message_key(update: dict[str, Any]) -> str:
    """The engine's message id of an update: a message is known by its chat and
    message id, a button press by its callback query id."""
    if "callback_query" in update:
        return f"callback:{update['callback_query']['id']}"
    message = update["message"]
    return f"message:{message['chat']['id']}:{message['message_id']}"


def texts(sent: list[dict[str, Any]]) -> list[str]:
    return [entry["text"] for entry in sent]


def buttons(entry: dict[str, Any]) -> list[dict[str, Any]]:
    markup = entry.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def callback_data(entry: dict[str, Any]) -> list[str]:
    return [button["callback_data"] for button in buttons(entry)]


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@asynccontextmanager
async def telegram_bot(
    tmp_path, webhook: bool = False, clock: FakeClock | None = None, **overrides: Any
) -> AsyncIterator[Telegram]:
    async with FakeTelegram() as fake:
        if webhook:
            overrides.update(telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=SECRET)
        settings = telegram_settings(tmp_path / "data", fake, **{"public_url": "", **overrides})
        async with (
            running_server(
                settings,
                adapters=lambda core: [TelegramAdapter(core)],
                clock=clock or FakeClock(),
            ) as server,
            httpx.AsyncClient(timeout=10) as http,
        ):
            # Listen to the development mailer before any email is asked for.
            yield Telegram(fake, server, http, webhook, mailbox_of(server.core.engine))


@pytest.fixture
async def tg(tmp_path) -> AsyncIterator[Telegram]:
    async with telegram_bot(tmp_path) as bot:
        yield bot


@pytest.fixture
async def tg_webhook(tmp_path) -> AsyncIterator[Telegram]:
    async with telegram_bot(tmp_path, webhook=True) as bot:
        yield bot


async def reach_deletion_id_proof(tg: Telegram, chat: int = CHAT) -> None:
    """Type (not press) through a deletion request up to the ID-proof step."""
    for answer in ("/start", "1", "1", "Budi Santoso", "budi@example.com", CODE, "2"):
        replies = await tg.text(answer, chat)
    assert "KTP, SIM, atau paspor" in replies[-1]


# --------------------------------------------------------------------------- conversations


async def test_deletion_request_in_indonesian_with_buttons_and_a_photo(tg: Telegram) -> None:
    fake = tg.fake
    welcome = await tg.say(fake.text_update(CHAT, "/start", language_code="id"))
    assert len(welcome) == 1
    assert welcome[0]["chat_id"] == CHAT
    assert welcome[0]["text"].startswith("Halo! Ini layanan privasi JOVA POS.")
    assert [b["text"] for b in buttons(welcome[0])] == [
        "Hapus akun",
        "Salinan data",
        "Koreksi data",
        "Batasi pemrosesan",
        "Cek status",
        "Bicara dengan staf",
    ]
    assert callback_data(welcome[0]) == [f"menu|{n}" for n in range(1, 7)]

    consequences = await tg.say(tg.callback("menu|1"))
    assert "dampak penghapusan akun" in consequences[-1]["text"]
    assert callback_data(consequences[-1]) == [f"deletion.consequences|{n}" for n in range(1, 4)]

    assert await tg.press("deletion.consequences|1") == [
        "Siapa nama lengkap Anda sesuai akun JOVA POS?"
    ]
    assert await tg.text("Budi Santoso") == [
        "Apa alamat email yang terdaftar di akun JOVA POS Anda?"
    ]
    asked = await tg.say(fake.text_update(CHAT, "budi@example.com"))
    assert asked[-1]["text"].startswith(
        "Jika budi@example.com terdaftar di JOVA POS, kami sudah mengirim kode 6 angka"
    )
    assert callback_data(asked[-1]) == ["deletion.email_code|kirim ulang"]
    (mail,) = tg.mailbox.mails
    assert mail.to == "budi@example.com"
    code = tg.mailbox.latest_code()
    assert code not in asked[-1]["text"]  # the code only goes by email
    reason = await tg.say(fake.text_update(CHAT, code))
    assert reason[0]["text"] == "Email Anda sudah terverifikasi."
    assert reason[-1]["text"].startswith("Apa alasan Anda menghapus akun?")
    assert callback_data(reason[-1]) == [f"deletion.reason|{n}" for n in range(1, 6)]

    proof = await tg.say(tg.callback("deletion.reason|2"))
    assert "KTP, SIM, atau paspor" in proof[-1]["text"]
    assert "maksimal 10 MB" in proof[-1]["text"]
    assert callback_data(proof[-1]) == ["deletion.id_proof|nanti"]

    fake.add_file("ktp-photo", JPEG)
    summary = await tg.say(fake.photo_update(CHAT, "ktp-photo"))
    assert summary[0]["text"] == "Bukti identitas Anda sudah kami terima."
    assert "- Alasan: Pindah ke aplikasi lain" in summary[-1]["text"]
    assert "- Bukti identitas: sudah dikirim" in summary[-1]["text"]
    assert callback_data(summary[-1]) == [f"deletion.summary|{n}" for n in range(1, 4)]

    filed = "\n".join(await tg.press("deletion.summary|1"))
    assert "permintaan hapus akun Anda sudah kami terima" in filed
    match = REFERENCE.search(filed)
    assert match is not None and match.group(1) == "DEL"
    reference = match.group(0)

    # Every button Telegram was given is "<state>|<value>" and fits in 64 bytes.
    for entry in fake.sent:
        for data in callback_data(entry):
            assert CALLBACK.match(data), data
            assert len(data.encode()) <= 64
    # Each press was answered (the client's spinner stops), once.
    assert [a["callback_query_id"] for a in fake.answered_callbacks] == tg.pressed
    assert len(tg.pressed) == 4

    (request,) = await list_requests(tg.store)
    assert request.reference == reference
    assert request.type.value == "deletion"
    assert request.status is RequestStatus.VERIFYING
    assert request.channel is Channel.TELEGRAM
    assert request.customer_address == str(CHAT)
    assert request.language == "id"
    assert (request.full_name, request.email) == ("Budi Santoso", "budi@example.com")
    assert request.reason == "Pindah ke aplikasi lain"
    (attachment,) = (await find_request(tg.store, reference.lower())).attachments
    assert attachment.media_type == "image/jpeg"
    # What is kept is the photo without its metadata, sealed on disk.
    plain = tg.server.core.services.blobs.get(attachment.token)
    assert plain == STORED_JPEG
    assert attachment.size == len(STORED_JPEG)
    assert attachment.sha256 == hashlib.sha256(plain).hexdigest()
    assert len(fake.downloads) == 1
    stored = [p.read_bytes() for p in tg.server.core.settings.blob_dir.rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert JPEG not in stored[0] and STORED_JPEG not in stored[0]
    assert b"\xff\xd8\xff" not in stored[0]


async def test_access_request_in_english_from_the_language_code_with_a_pdf(tg: Telegram) -> None:
    fake = tg.fake
    welcome = await tg.say(fake.text_update(CHAT, "/start", language_code="en"))
    assert welcome[0]["text"].startswith("Hello! This is the JOVA POS privacy desk.")
    assert [b["text"] for b in buttons(welcome[0])][:2] == ["Delete my account", "Copy of my data"]

    assert await tg.press("menu|2", language="en") == [
        "You are asking for a copy of the personal data JOVA POS holds about you.",
        "What is your full name, as on your JOVA POS account?",
    ]
    assert await tg.text("Jane Doe", language="en") == [
        "What is the email address registered to your JOVA POS account?"
    ]
    asked = await tg.text("jane@example.com", language="en")
    assert asked[-1].startswith(
        "If jane@example.com is registered with JOVA POS, we have sent a 6-digit code to it."
    )
    assert tg.mailbox.mails[-1].to == "jane@example.com"
    reason = await tg.say(fake.text_update(CHAT, tg.mailbox.latest_code(), language_code="en"))
    assert reason[0]["text"] == "Your email is verified."
    assert reason[-1]["text"].startswith("Why are you asking for a copy of your data?")
    assert [(b["text"], b["callback_data"]) for b in buttons(reason[-1])] == [
        ("Skip", "access.reason|lewati")
    ]
    proof = await tg.press("access.reason|lewati", language="en")
    assert proof[-1].startswith("To make sure this request really comes from you")

    fake.add_file("passport-pdf", PDF)
    summary = await tg.say(
        fake.document_update(CHAT, "passport-pdf", "passport.pdf", language_code="en")
    )
    assert summary[0]["text"] == "We have received your ID proof."
    assert callback_data(summary[-1]) == [f"access.summary|{n}" for n in range(1, 4)]

    filed = "\n".join(await tg.press("access.summary|1", language="en"))
    assert "Thank you, we have received your data copy request." in filed
    match = REFERENCE.search(filed)
    assert match is not None and match.group(1) == "ACC"

    request = await find_request(tg.store, match.group(0))
    assert request.type.value == "access"
    assert request.status is RequestStatus.VERIFYING
    assert request.channel is Channel.TELEGRAM
    assert request.language == "en"
    assert request.reason is None
    (attachment,) = request.attachments
    assert attachment.media_type == "application/pdf"
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert len(tg.pressed) == len(fake.answered_callbacks) == 3


async def test_id_proof_sent_later_at_the_menu_is_fetched_and_attached(tg: Telegram) -> None:
    fake = tg.fake
    for answer in ("/start", "2", "Budi Santoso", "budi@example.com", CODE, "lewati", "nanti", "1"):
        replies = await tg.text(answer)
    match = REFERENCE.search("\n".join(replies))
    assert match is not None
    reference = match.group(0)
    assert (await find_request(tg.store, reference)).status is RequestStatus.AWAITING_ID_PROOF

    fake.add_file("ktp-later", JPEG)
    attached = texts(await tg.say(fake.photo_update(CHAT, "ktp-later")))
    assert attached == [
        f"Terima kasih, bukti identitas untuk permintaan {reference} sudah kami terima "
        "dan akan kami periksa."
    ]
    request = await find_request(tg.store, reference)
    assert request.status is RequestStatus.VERIFYING
    assert [a.sha256 for a in request.attachments] == [hashlib.sha256(STORED_JPEG).hexdigest()]
    assert len(fake.downloads) == 1


# --------------------------------------------------------------------------- delivery


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_a_message_in_a_group_chat_is_ignored(tmp_path, webhook: bool) -> None:
    """Privacy requests are one-to-one: nothing said in a group is stored or answered."""
    async with telegram_bot(tmp_path, webhook=webhook) as tg:
        fake = tg.fake
        assert fake.text_update(GROUP_CHAT, "/start")["message"]["chat"]["type"] == "group"
        fake.add_file("group-photo", JPEG)
        group_updates = [
            fake.text_update(GROUP_CHAT, "/start"),
            fake.text_update(GROUP_CHAT, "hapus akun"),
            fake.photo_update(GROUP_CHAT, "group-photo"),
            tg.callback("menu|1", GROUP_CHAT),
        ]
        for update in group_updates:
            # Acknowledged (a webhook answers 200), so Telegram does not retry it.
            await tg.deliver(update)
        # Updates are handled in order: once this one is done, the group's are too.
        assert (await tg.text("/start"))[0].startswith("Halo!")

        assert [entry["chat_id"] for entry in fake.sent] == [CHAT]
        assert [c["chat_id"] for c in fake.calls_of("sendMessage")] == [CHAT]
        assert fake.calls_of("getFile") == [] and fake.downloads == []
        keys = [message_key(update) for update in group_updates]
        for key in keys:
            rows = await tg.rows("SELECT count(*) FROM inbound_messages WHERE external_id = ?", key)
            assert rows == [(0,)], key
        assert await tg.rows("SELECT count(*) FROM inbound_messages") == [(1,)]
        assert await tg.rows("SELECT address FROM conversations") == [(str(CHAT),)]
        assert await tg.rows("SELECT count(*) FROM outbound_messages") == [(1,)]
        assert await tg.rows("SELECT count(*) FROM attachments") == [(0,)]
        assert [p for p in tg.server.core.settings.blob_dir.rglob("*") if p.is_file()] == []
        assert tg.mailbox.mails == []


async def test_an_update_delivered_twice_by_polling_is_handled_once(
    tg: Telegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tg.fake
    await tg.text("/start")
    engine = tg.server.core.engine
    seen: list[str] = []
    handle = engine.handle

    async def spy(message):
        seen.append(message.message_id)
        return await handle(message)

    monkeypatch.setattr(engine, "handle", spy)

    update = fake.stamp(fake.text_update(CHAT, "1"))
    fake.push_update(update)
    fake.push_update(update)  # Telegram hands out the same update again
    await tg.handled(update)
    follow_up = await tg.text("bantuan")  # handled after both copies: updates are sequential
    assert "Penghapusan akun bersifat permanen" in follow_up[0]

    key = f"message:{CHAT}:{update['message']['message_id']}"
    assert message_key(update) == key
    assert seen.count(key) == 2, "the duplicate never reached the bot"
    assert await tg.rows("SELECT count(*) FROM inbound_messages WHERE external_id = ?", key) == [
        (1,)
    ]
    consequences = [t for t in texts(fake.sent) if "dampak penghapusan akun" in t]
    assert len(consequences) == 1
    assert len(fake.calls_of("sendMessage")) == len(fake.sent) == 4  # menu, 1, help x2


async def test_a_webhook_update_posted_twice_is_handled_once(tg_webhook: Telegram) -> None:
    tg, fake = tg_webhook, tg_webhook.fake
    for answer in ("/start", "1", "1", "Budi Santoso", "budi@example.com", CODE, "2"):
        await tg.text(answer)
    fake.add_file("ktp-photo", JPEG)
    before = len(fake.sent)
    photo = fake.stamp(fake.photo_update(CHAT, "ktp-photo"))
    for _ in range(2):  # Telegram retries a webhook it believes failed
        assert (await tg.post(photo)).status_code == 200
    await tg.handled(photo)
    press = fake.stamp(tg.callback("deletion.summary|1"))
    for _ in range(2):
        assert (await tg.post(press)).status_code == 200
    await tg.handled(press)
    await tg.text("bantuan")  # both second copies are behind us now

    sent = texts(fake.sent[before:])
    assert sent[0] == "Bukti identitas Anda sudah kami terima."
    assert sum("Mohon periksa permintaan hapus akun" in t for t in sent) == 1
    assert sum("Nomor referensi: DEL-" in t for t in sent) == 1
    assert len(fake.downloads) == 1
    assert len(fake.answered_callbacks) == 1  # the second answer was refused, harmlessly
    keys = [
        f"message:{CHAT}:{photo['message']['message_id']}",
        f"callback:{press['callback_query']['id']}",
    ]
    assert [message_key(update) for update in (photo, press)] == keys
    for key in keys:
        assert await tg.rows(
            "SELECT count(*) FROM inbound_messages WHERE external_id = ?", key
        ) == [(1,)]
    assert len(await list_requests(tg.store)) == 1
    assert await tg.rows("SELECT count(*) FROM attachments") == [(1,)]


async def test_replies_sent_before_a_failure_are_not_sent_again_on_redelivery(
    tg_webhook: Telegram,
) -> None:
    """The second of two replies fails: the update is not acknowledged, and
    Telegram's redelivery sends only the reply that had not gone (the core
    recorded the first as sent before handling the failure)."""
    tg, fake = tg_webhook, tg_webhook.fake
    await tg.text("/start")
    await tg.text("1")
    adapter = tg.adapter
    real = adapter._send_message
    calls = 0

    async def second_fails(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            fake.fail_next("sendMessage", 1, 500, retry_after=None)
        return await real(*args)

    adapter._send_message = second_fails  # type: ignore[method-assign]
    before = len(fake.sent)
    update = fake.stamp(fake.text_update(CHAT, "bantuan"))
    assert (await tg.post(update)).status_code == 503  # not acknowledged: sent again
    first = texts(fake.sent[before:])
    assert len(first) == 1
    assert (await tg.post(update)).status_code == 200
    await tg.handled(update)
    sent = texts(fake.sent[before:])
    assert len(sent) == 2 and sent[0] == first[0]  # the first reply once, then the rest
    assert await tg.rows("SELECT count(*) FROM outbound_messages WHERE sent_at IS NULL") == [(0,)]


async def test_a_stale_button_gets_the_current_question_again(tg: Telegram) -> None:
    fake = tg.fake
    (welcome,) = await tg.say(fake.text_update(CHAT, "/start"))
    await tg.press("menu|1")
    assert await tg.press("deletion.consequences|1") == [
        "Siapa nama lengkap Anda sesuai akun JOVA POS?"
    ]

    # Two steps later the customer scrolls up and presses "Salinan data" on the menu.
    stale = await tg.say(tg.callback("menu|2", message_id=welcome["message_id"]))
    assert texts(stale) == [
        "Tombol itu sudah tidak berlaku. Ini pertanyaan yang sedang menunggu jawaban Anda:",
        "Siapa nama lengkap Anda sesuai akun JOVA POS?",
    ]
    # And an old consequences button as well: still the same question, nothing chosen.
    assert (await tg.press("deletion.consequences|3"))[-1] == (
        "Siapa nama lengkap Anda sesuai akun JOVA POS?"
    )
    assert len(fake.answered_callbacks) == len(tg.pressed) == 4
    assert await tg.rows("SELECT state FROM conversations") == [("deletion.full_name",)]
    assert await tg.text("Budi Santoso") == [
        "Apa alamat email yang terdaftar di akun JOVA POS Anda?"
    ]


async def test_a_reply_refused_with_429_is_sent_after_retry_after(tg: Telegram) -> None:
    fake = tg.fake
    fake.fail_next("sendMessage", 1, 429, retry_after=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    welcome = await tg.say(fake.text_update(CHAT, "/start"))
    assert loop.time() - started >= 0.9  # waited as told
    assert [e["text"][:5] for e in welcome] == ["Halo!"]
    assert len(fake.calls_of("sendMessage")) == 2
    assert await tg.rows("SELECT count(*) FROM outbound_messages WHERE sent_at IS NULL") == [(0,)]
    assert await tg.rows("SELECT provider_id FROM outbound_messages") == [
        (str(welcome[0]["message_id"]),)
    ]


async def test_a_long_reply_is_split_at_paragraphs_with_buttons_on_the_last_part(
    tg: Telegram,
) -> None:
    # Emoji count twice in Telegram's UTF-16 limit: 4,096 characters would not fit.
    paragraphs = [f"Paragraf {i}: " + "data pribadi 🙂 " * 30 for i in range(20)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(text) > 9000 and utf16_units(text) > len(text)
    reply = OutboundMessage(
        Channel.TELEGRAM,
        str(CHAT),
        "test.long",
        text,
        "id",
        buttons=(("Ya", "1"), ("Tidak", "2")),
        state="menu",
    )
    await tg.adapter.send([reply])

    parts = tg.fake.sent
    assert len(parts) == 3
    assert all(p["chat_id"] == CHAT for p in parts)
    assert all(utf16_units(p["text"]) <= 4096 for p in parts)
    assert "\n\n".join(texts(parts)) == text
    assert all(p["text"].startswith("Paragraf ") for p in parts)  # clean breaks
    assert [p.get("reply_markup") for p in parts[:-1]] == [None, None]
    assert [(b["text"], b["callback_data"]) for b in buttons(parts[-1])] == [
        ("Ya", "menu|1"),
        ("Tidak", "menu|2"),
    ]


# --------------------------------------------------------------------------- files


async def test_a_file_over_the_limit_is_refused_without_downloading(tg: Telegram) -> None:
    fake = tg.fake
    await reach_deletion_id_proof(tg)
    fake.add_file("huge-scan", JPEG, file_size=15 * MB)  # what Telegram reports
    refused = texts(await tg.say(fake.photo_update(CHAT, "huge-scan")))
    assert refused == [
        "File terlalu besar (maksimal 10 MB). Coba kirim foto atau PDF yang lebih kecil."
    ]
    fake.add_file("huge-pdf", PDF, file_size=15 * MB)
    refused = texts(await tg.say(fake.document_update(CHAT, "huge-pdf")))
    assert refused[0].startswith("File terlalu besar (maksimal 10 MB).")
    assert fake.calls_of("getFile") == []
    assert fake.downloads == []
    assert await tg.rows("SELECT count(*) FROM attachments") == [(0,)]
    assert await tg.rows("SELECT state FROM conversations") == [("deletion.id_proof",)]

    # Still at the ID-proof step: a proper photo goes through.
    fake.add_file("ktp-photo", JPEG)
    accepted = texts(await tg.say(fake.photo_update(CHAT, "ktp-photo")))
    assert accepted[0] == "Bukti identitas Anda sudah kami terima."
    assert len(fake.downloads) == 1


async def test_a_file_nobody_asked_for_is_not_downloaded(tg: Telegram) -> None:
    fake = tg.fake
    # Another customer waits to send ID proof later; that is no reason to fetch ours.
    for answer in ("/start", "2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1"):
        await tg.text(answer, OTHER_CHAT)
    (waiting,) = await list_requests(tg.store, RequestStatus.AWAITING_ID_PROOF)
    assert waiting.customer_address == str(OTHER_CHAT)

    await tg.text("/start")
    fake.add_file("holiday-photo", JPEG)
    reply = texts(await tg.say(fake.photo_update(CHAT, "holiday-photo")))
    assert reply[0] == (
        "Terima kasih, tetapi saat ini kami tidak memerlukan file. File tersebut tidak kami simpan."
    )
    assert reply[-1].startswith("Ketik angka pilihan Anda:")
    fake.add_file("some-pdf", PDF)
    reply = texts(await tg.say(fake.document_update(CHAT, "some-pdf", "invoice.pdf")))
    assert reply[0].startswith("Terima kasih, tetapi saat ini kami tidak memerlukan file.")
    assert fake.calls_of("getFile") == []
    assert fake.downloads == []
    assert await tg.rows("SELECT count(*) FROM attachments") == [(0,)]
    assert [p for p in tg.server.core.settings.blob_dir.rglob("*") if p.is_file()] == []


async def test_a_failed_download_asks_for_the_file_again(tg: Telegram) -> None:
    fake = tg.fake
    await reach_deletion_id_proof(tg)
    fake.add_file("ktp-photo", JPEG)
    fake.fail_next("getFile", 1, 500)
    reply = texts(await tg.say(fake.photo_update(CHAT, "ktp-photo")))
    assert reply == ["Maaf, file Anda tidak berhasil kami terima. Silakan kirim ulang."]
    assert await tg.rows("SELECT state FROM conversations") == [("deletion.id_proof",)]
    again = texts(await tg.say(fake.photo_update(CHAT, "ktp-photo")))
    assert again[0] == "Bukti identitas Anda sudah kami terima."


async def test_a_file_telegram_will_not_serve_is_reported_as_too_large(tmp_path) -> None:
    async with telegram_bot(tmp_path, max_attachment_bytes=30 * MB) as tg:
        await reach_deletion_id_proof(tg)
        tg.fake.add_file("big-scan", JPEG, file_size=25 * MB)
        reply = texts(await tg.say(tg.fake.photo_update(CHAT, "big-scan")))
        assert tg.fake.downloads == []
        assert "terlalu besar" in reply[0], reply


# --------------------------------------------------------------------------- webhook, setup


async def test_webhook_requires_the_secret_token(tg_webhook: Telegram) -> None:
    tg, fake = tg_webhook, tg_webhook.fake
    assert fake.webhook["url"] == WEBHOOK_URL
    assert fake.webhook["secret_token"] == SECRET
    assert fake.webhook["allowed_updates"] == ["message", "callback_query"]
    assert fake.calls_of("getUpdates") == []

    update = fake.stamp(fake.text_update(CHAT, "/start"))
    for secret in (None, "", "wrong-secret", SECRET[:-1], SECRET + "x"):
        response = await tg.post(update, secret=secret)
        assert response.status_code == 403, secret
    await asyncio.sleep(0.1)  # nothing may be processing in the background either
    assert fake.sent == []
    assert await tg.rows("SELECT count(*) FROM inbound_messages") == [(0,)]
    assert await tg.rows("SELECT count(*) FROM conversations") == [(0,)]

    response = await tg.post(update)
    assert response.status_code == 200
    await tg.handled(update)
    assert texts(fake.sent)[0].startswith("Halo! Ini layanan privasi JOVA POS.")

    health = (await tg.http.get(tg.server.url + "/healthz")).json()
    assert health["channels"]["telegram"] == {
        "enabled": True,
        "mode": "webhook",
        "staff_group": False,
    }


async def test_bot_commands_are_registered_in_indonesian_and_english(tg: Telegram) -> None:
    fake = tg.fake
    id_commands = fake.commands_for("id")
    en_commands = fake.commands_for("en")
    assert id_commands and en_commands
    # The same menu in each language, in the same order, each with its own words.
    assert [c["command"] for c in id_commands] == ["start", "status", "bantuan", "staf", "batal"]
    assert [c["command"] for c in en_commands] == ["start", "status", "help", "staff", "cancel"]
    descriptions = {c["command"]: c["description"] for c in id_commands}
    assert descriptions["start"] == "Mulai dan tampilkan menu"
    assert {c["command"]: c["description"] for c in en_commands}["start"] == (
        "Start and show the menu"
    )
    assert fake.commands_for("") == id_commands  # everyone else: the default language


async def test_registered_commands_are_understood_at_the_menu(tg: Telegram) -> None:
    assert (await tg.text("/start"))[0].startswith("Halo!")
    assert await tg.text("/status") == [
        "Ketik nomor referensi permintaan Anda, misalnya DEL-7K3M9Q."
    ]
    assert (await tg.text("/bantuan"))[0].startswith("Ketik nomor referensi permintaan Anda")
    assert (await tg.text("/batal"))[0] == "Tidak ada permintaan yang sedang Anda isi."
    assert (await tg.text("/staf"))[0].startswith("Baik, permintaan Anda sudah kami teruskan")


async def test_english_commands_are_understood_at_the_menu(tg: Telegram) -> None:
    def say(text: str) -> Any:
        return tg.text(text, OTHER_CHAT, language="en")

    assert (await say("/start"))[0].startswith("Hello! This is the JOVA POS privacy desk.")
    assert await say("/status") == ["Type the reference of your request, for example DEL-7K3M9Q."]
    assert (await say("/help"))[0].startswith("Type the reference of your request")
    assert (await say("/cancel"))[0] == "There is no request in progress."
    assert (await say("/staff"))[0].startswith("Thanks, we have passed your request to our staff.")


async def test_healthz_shows_telegram_polling(tg: Telegram) -> None:
    response = await tg.http.get(tg.server.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "channels": {
            "telegram": {"enabled": True, "mode": "polling", "staff_group": False},
            "whatsapp": {"enabled": False},
            "sms": {"enabled": False},
        },
    }
    assert tg.fake.calls_of("getUpdates")  # it is polling


async def test_the_status_command_is_not_taken_as_an_answer_mid_request(tg: Telegram) -> None:
    for answer in ("/start", "1", "1", "Budi Santoso", "budi@example.com", CODE):
        await tg.text(answer)
    assert await tg.rows("SELECT state FROM conversations") == [("deletion.reason",)]
    await tg.text("/status")  # tapped in the bot's command menu at the reason step
    ((state, slots),) = await tg.rows("SELECT state, slots FROM conversations")
    assert json.loads(slots).get("reason") != "/status", (state, slots)


async def test_a_malformed_webhook_update_gets_400(tg_webhook: Telegram) -> None:
    tg = tg_webhook
    for body in (b"{", b"{}", b"null", b"[]", b'"update"', b'{"update_id": 5, "message": 3}'):
        response = await tg.http.post(
            tg.server.url + WEBHOOK_PATH, content=body, headers={SECRET_HEADER: SECRET}
        )
        assert response.status_code == 400, (body, response.status_code)
    assert tg.fake.sent == []
