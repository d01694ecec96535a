"""The fake Telegram and Twilio servers speak the real wire formats: the unmodified
python-telegram-bot and twilio clients work against them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from twilio.base.exceptions import TwilioRestException
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from integrations.twilio.http import RebasedHttpClient
from tests.fakes import telegram_api, twilio_api
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import (
    FakeTwilio,
    inbound_params,
    new_sid,
    num_segments,
    signed_form,
    status_params,
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n" + b"\x03" * 64
TOKEN = "7000000001:AAH-fake-token_for-privacybot-tests"
SID = "AC" + "5" * 32
AUTH = "test-auth-token-5555"
TWILIO_API = "https://api.twilio.com"

# The ready-made fixtures (default token / credentials), as a conftest would expose them.
fake_telegram = telegram_api.fake_telegram
fake_twilio = twilio_api.fake_twilio


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as b:
        yield b


@pytest.fixture
async def tw() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(SID, AUTH) as fake:
        yield fake


class RewritingHttpClient(RebasedHttpClient):
    """The product's rebasing client, refusing any host but the fake."""

    async def request(self, method: str, uri: str, *args: Any, **kwargs: Any) -> TwilioResponse:
        assert uri.startswith(TWILIO_API + "/"), f"refusing to contact {uri}"
        return await super().request(method, uri, *args, **kwargs)

    async def close(self) -> None:
        await self.aclose()


@pytest.fixture
async def twilio_client(tw: FakeTwilio) -> AsyncIterator[Client]:
    http = RewritingHttpClient(tw.base_url)
    yield Client(SID, AUTH, http_client=http)
    await http.close()


# ---------------------------------------------------------------------------- Telegram


async def test_initialize_calls_get_me(tg: FakeTelegram, bot: telegram.Bot) -> None:
    assert bot.username == "privacybot_test_bot"
    assert bot.id == 7000000001
    assert bot.bot.can_join_groups is True
    assert [name for name, _ in tg.calls] == ["getMe"]


async def test_send_message_with_inline_keyboard(tg: FakeTelegram, bot: telegram.Bot) -> None:
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Ya", callback_data="yes"),
                InlineKeyboardButton("Tidak", callback_data="no"),
            ]
        ]
    )
    message = await bot.send_message(42, "Lanjutkan?", reply_markup=markup)
    assert message.message_id == 1
    assert message.chat.id == 42 and message.chat.type == "private"
    assert message.text == "Lanjutkan?"
    assert message.from_user is not None and message.from_user.is_bot
    assert message.reply_markup == markup
    [sent] = await tg.wait_for_sent(1, timeout=1)
    assert sent["chat_id"] == 42 and sent["text"] == "Lanjutkan?"
    assert sent["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Ya", "callback_data": "yes"}, {"text": "Tidak", "callback_data": "no"}]
        ]
    }

    edited = await bot.edit_message_text("Baik.", chat_id=42, message_id=message.message_id)
    assert isinstance(edited, telegram.Message)
    assert edited.text == "Baik." and edited.reply_markup is None
    assert tg.sent[-1]["method"] == "editMessageText"
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("Baik.", chat_id=42, message_id=message.message_id)


async def test_get_updates_offset_and_long_poll(tg: FakeTelegram, bot: telegram.Bot) -> None:
    first = tg.push_update(tg.text_update(42, "halo", language_code="en"))
    [update] = await bot.get_updates(timeout=0)
    assert isinstance(update, telegram.Update) and update.update_id == first
    assert update.message is not None and update.message.text == "halo"
    assert update.effective_user is not None
    assert update.effective_user.language_code == "en"
    assert update.effective_chat is not None and update.effective_chat.id == 42

    # Unconfirmed updates are delivered again; an offset confirms them.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first]
    assert await bot.get_updates(offset=first + 1, timeout=0) == ()
    assert tg.updates == []

    async def push_later() -> None:
        await asyncio.sleep(0.1)
        tg.push_update(tg.text_update(42, "/start"))

    started = time.monotonic()
    pusher = asyncio.create_task(push_later())
    [update] = await bot.get_updates(offset=first + 1, timeout=5)
    await pusher
    assert time.monotonic() - started < 2
    assert update.update_id == first + 1
    assert update.message is not None and update.message.text == "/start"
    assert update.message.entities[0].type == "bot_command"


async def test_long_poll_waits_for_the_timeout(tg: FakeTelegram) -> None:
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{tg.base_url}{TOKEN}/getUpdates", json={"timeout": 0.3})
    assert response.json() == {"ok": True, "result": []}
    assert 0.25 < time.monotonic() - started < 2


async def test_second_poll_terminates_the_first(tg: FakeTelegram) -> None:
    url = f"{tg.base_url}{TOKEN}/getUpdates"
    async with httpx.AsyncClient() as client:
        first = asyncio.create_task(client.post(url, data={"timeout": "5"}))
        await asyncio.sleep(0.05)
        second = await client.post(url, data={"timeout": "0"})
        answer = await first
    assert second.json() == {"ok": True, "result": []}
    assert answer.status_code == 409
    assert "terminated by other getUpdates request" in answer.json()["description"]


async def test_callback_query(tg: FakeTelegram, bot: telegram.Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("1. Hapus akun", callback_data="del")]])
    sent = await bot.send_message(42, "Pilih:", reply_markup=markup)
    tg.push_update(tg.callback_update(42, "del"))
    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None and query.data == "del"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.from_user.language_code == "id"
    assert await query.answer("OK")
    assert tg.answered_callbacks == [{"callback_query_id": query.id, "text": "OK"}]
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()
    edited = await bot.edit_message_reply_markup(42, sent.message_id, reply_markup=None)
    assert isinstance(edited, telegram.Message) and edited.reply_markup is None


async def test_photo_and_document_updates(tg: FakeTelegram, bot: telegram.Bot) -> None:
    tg.add_file("photo-1", JPEG)
    tg.push_update(tg.photo_update(42, "photo-1", caption="KTP saya"))
    tg.add_file("doc-1", PDF, file_size=25 * 1024 * 1024)  # Telegram reports 25 MB
    tg.push_update(tg.document_update(42, "doc-1", "ktp.pdf", "application/pdf"))
    photo_update, doc_update = await bot.get_updates(timeout=0)
    assert photo_update.message is not None and photo_update.message.caption == "KTP saya"
    largest = photo_update.message.photo[-1]
    assert largest.file_id == "photo-1" and largest.file_size == len(JPEG)
    assert doc_update.message is not None and doc_update.message.document is not None
    assert doc_update.message.document.file_size == 25 * 1024 * 1024
    assert doc_update.message.document.mime_type == "application/pdf"
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file("doc-1")


async def test_get_file_and_download(tg: FakeTelegram, bot: telegram.Bot) -> None:
    tg.add_file("photo-1", JPEG)
    file = await bot.get_file("photo-1")
    assert file.file_size == len(JPEG)
    assert file.file_path is not None
    assert file.file_path.startswith(f"{tg.base_file_url}{TOKEN}/photos/")
    assert bytes(await file.download_as_bytearray()) == JPEG
    assert tg.downloads == ["photos/file_0.jpg"]
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_webhook_and_commands(tg: FakeTelegram, bot: telegram.Bot) -> None:
    assert await bot.set_webhook("https://bot.example.com/tg", secret_token="s3cr3t_-x")
    assert tg.webhook["url"] == "https://bot.example.com/tg"
    assert tg.webhook["secret_token"] == "s3cr3t_-x"
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example.com/tg" and info.pending_update_count == 0
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates(timeout=0)
    with pytest.raises(BadRequest, match=r"(?i)HTTPS URL"):
        await bot.set_webhook("http://bot.example.com/tg")
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""

    assert await bot.set_my_commands([("mulai", "Mulai percakapan")], language_code="id")
    assert await bot.set_my_commands([("start", "Start the conversation")], language_code="en")
    assert tg.commands[("id", "default")] == [
        {"command": "mulai", "description": "Mulai percakapan"}
    ]
    assert tg.commands_for("en") == [{"command": "start", "description": "Start the conversation"}]
    [command] = await bot.get_my_commands(language_code="id")
    assert command.command == "mulai"
    assert await bot.get_my_commands() == ()
    assert await bot.delete_my_commands(language_code="id")
    assert tg.commands_for("id") is None
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Start", "uppercase is not allowed")])


async def test_fail_next_raises_retry_after(
    tg: FakeTelegram, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # else .retry_after warns (PTB 22.2+)
    tg.fail_next("sendMessage", 1)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(42, "halo")
    assert caught.value.retry_after == timedelta(seconds=1)
    message = await bot.send_message(42, "halo")
    assert message.text == "halo"
    assert [entry["text"] for entry in tg.sent] == ["halo"]
    assert [name for name, _ in tg.calls].count("sendMessage") == 2

    tg.block(43)
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await bot.send_message(43, "halo")
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await bot.send_message(42, "x" * 4097)
    with pytest.raises(BadRequest, match=r'(?i)Unsupported start tag "br"'):
        await bot.send_message(42, "a<br>b", parse_mode="HTML")


async def test_wrong_token_and_unknown_method(tg: FakeTelegram) -> None:
    wrong = telegram.Bot("7000000001:wrong", base_url=tg.base_url)
    with pytest.raises(InvalidToken):
        async with wrong:  # __aenter__ shuts the client down again when initialize() fails
            pass
    async with httpx.AsyncClient() as client:
        unauthorized = await client.post(f"{tg.base_url}7000000001:wrong/getMe")
        unknown = await client.post(f"{tg.base_url}{TOKEN}/sendTelepathy", data={"chat_id": "1"})
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert unknown.status_code == 404
    assert unknown.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }


async def test_json_and_form_bodies(tg: FakeTelegram) -> None:
    url = f"{tg.base_url}{TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with httpx.AsyncClient() as client:
        as_json = await client.post(url, json={"chat_id": 7, "text": "123", "reply_markup": markup})
        as_form = await client.post(
            url,
            data={"chat_id": "7", "text": "123", "reply_markup": '{"inline_keyboard": [[]]}'},
        )
        as_multipart = await client.post(
            url, data={"chat_id": "7", "text": "x"}, files={"thumbnail": ("a.jpg", JPEG)}
        )
    assert as_json.json()["result"]["reply_markup"] == markup
    assert as_form.json()["ok"] and as_multipart.json()["ok"]
    assert [(e["chat_id"], e["text"]) for e in tg.sent] == [(7, "123"), (7, "123"), (7, "x")]
    assert tg.sent[2]["thumbnail"]["data"] == JPEG


async def test_application_polling(tg: FakeTelegram) -> None:
    app = Application.builder().token(TOKEN).base_url(tg.base_url).build()

    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.effective_user is not None
        await update.message.reply_text(f"halo ({update.effective_user.language_code})")

    async def pressed(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"pilihan {update.callback_query.data}")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=10)
        tg.push_update(tg.text_update(5, "/start", language_code="en"))
        await tg.wait_for_sent(1, timeout=3)
        tg.push_update(tg.callback_update(5, "2"))
        await tg.wait_for_sent(2, timeout=3)
        await app.updater.stop()
        await app.stop()
    assert [(e["method"], e["text"]) for e in tg.sent] == [
        ("sendMessage", "halo (en)"),
        ("editMessageText", "pilihan 2"),
    ]
    assert len(tg.answered_callbacks) == 1
    assert tg.updates == []  # the updater confirmed everything with its last offset


async def test_ready_made_fixtures(fake_telegram: FakeTelegram, fake_twilio: FakeTwilio) -> None:
    assert fake_telegram.base_url.startswith("http://127.0.0.1:")
    assert fake_twilio.base_url != fake_twilio.cdn_url


# ---------------------------------------------------------------------------- Twilio


async def test_create_message(tw: FakeTwilio, twilio_client: Client) -> None:
    message = await twilio_client.messages.create_async(
        to="whatsapp:+6281234567890",
        from_="whatsapp:+14155238886",
        body="Halo! Ini layanan privasi JOVA POS.",
        status_callback="https://bot.example.com/twilio/status",
    )
    assert message.sid is not None and message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued" and message.account_sid == SID
    assert message.to == "whatsapp:+6281234567890"
    assert message.date_created is not None and message.date_created.tzinfo is not None
    [recorded] = await tw.wait_for_messages(1, timeout=1)
    assert recorded["sid"] == message.sid
    assert recorded["status_callback"] == "https://bot.example.com/twilio/status"
    assert recorded["from"] == "whatsapp:+14155238886"
    assert tw.requests[0]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    fetched = await twilio_client.messages(message.sid).fetch_async()
    assert fetched.body == "Halo! Ini layanan privasi JOVA POS."

    with pytest.raises(TwilioRestException) as caught:
        await twilio_client.messages.create_async(to="+6281234567890", from_="+1415", body="")
    assert caught.value.status == 400 and caught.value.code == 21602


async def test_message_failures(tw: FakeTwilio, twilio_client: Client) -> None:
    tw.fail_next_messages(1, status=429, retry_after=3)
    tw.fail_next_messages(1, status=500)
    args = {"to": "+6281234567890", "from_": "+14155550100", "body": "halo"}
    with pytest.raises(TwilioRestException) as too_many:
        await twilio_client.messages.create_async(**args)
    assert too_many.value.status == 429 and too_many.value.code == 20429
    with pytest.raises(TwilioRestException) as server_error:
        await twilio_client.messages.create_async(**args)
    assert server_error.value.status == 500
    assert (await twilio_client.messages.create_async(**args)).num_segments == "1"
    assert len(tw.messages) == 1 and len(tw.requests) == 3

    async with httpx.AsyncClient() as client:
        tw.fail_next_messages(1, status=429, retry_after=3)
        raw = await client.post(
            f"{tw.base_url}/2010-04-01/Accounts/{SID}/Messages.json", auth=(SID, AUTH), data=args
        )
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "3"


async def test_wrong_credentials(tw: FakeTwilio) -> None:
    http = RewritingHttpClient(tw.base_url)
    client = Client(SID, "wrong-token", http_client=http)
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to="+6281234567890", from_="+14155550100", body="x")
    await http.close()
    assert caught.value.status == 401 and caught.value.code == 20003
    assert tw.messages == []


async def test_media_download_and_delete(tw: FakeTwilio, twilio_client: Client) -> None:
    message_sid = new_sid("MM")
    url = tw.add_media(message_sid, "ME" + "a" * 32, JPEG, "image/jpeg")
    assert (
        url == f"{tw.base_url}/2010-04-01/Accounts/{SID}/Messages/{message_sid}/Media/ME{'a' * 32}"
    )

    async with httpx.AsyncClient(follow_redirects=True) as client:
        anonymous = await client.get(url)
        response = await client.get(url, auth=(SID, AUTH))
        assert anonymous.status_code == 401
        assert response.status_code == 200 and response.content == JPEG
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.history[0].status_code == 307
        # httpx drops Authorization on a cross-origin redirect (the CDN is another port).
        [cdn] = tw.cdn_requests
        assert "Authorization" not in cdn["headers"] and cdn["authorization"] is None

        # A client that forwards the credentials is refused by the CDN, as S3 does.
        location = response.history[0].headers["Location"]
        forwarded = await client.get(location, headers={"Authorization": "Basic eDp5"})
        assert forwarded.status_code == 400 and b"InvalidArgument" in forwarded.content

        deleted = (
            await twilio_client.api.v2010.accounts(SID)
            .messages(message_sid)
            .media("ME" + "a" * 32)
            .delete_async()
        )
        assert deleted is True
        assert tw.deleted_media == [(message_sid, "ME" + "a" * 32)]
        assert (await client.get(url, auth=(SID, AUTH))).status_code == 404
        assert (await client.get(location)).status_code == 403  # the CDN copy is gone too


async def test_aiohttp_also_strips_authorization_on_redirect(tw: FakeTwilio) -> None:
    import aiohttp

    url = tw.add_media(new_sid("MM"), None, PDF, "application/pdf")
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url, headers={"Authorization": aiohttp.encode_basic_auth(SID, AUTH)}
        ) as response,
    ):
        assert response.status == 200 and await response.read() == PDF
    assert tw.cdn_requests[0]["authorization"] is None


async def test_fail_media(tw: FakeTwilio) -> None:
    message_sid = new_sid("MM")
    url = tw.add_media(message_sid, "ME" + "b" * 32, JPEG)
    tw.fail_media("ME" + "b" * 32, 500, count=1)
    async with httpx.AsyncClient(follow_redirects=True, auth=(SID, AUTH)) as client:
        failed = await client.get(url)
        assert failed.status_code == 500 and failed.json()["code"] == 20500
        assert (await client.get(url)).content == JPEG
        tw.fail_media("ME" + "b" * 32, 404)
        assert (await client.get(url)).status_code == 404
        assert (await client.get(url)).status_code == 404


def test_signed_form_and_inbound_params() -> None:
    media_url = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM{'c' * 32}/Media/ME1"
    params = inbound_params(
        "whatsapp:+6281234567890",
        "whatsapp:+14155238886",
        "halo",
        media=[(media_url, "image/jpeg")],
        account_sid=SID,
    )
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"] == "MM" + "c" * 32
    assert params["NumMedia"] == "1" and params["MediaUrl0"] == media_url
    assert params["WaId"] == "6281234567890" and params["MessageType"] == "image"
    assert params["AccountSid"] == SID and params["ApiVersion"] == "2010-04-01"

    url = "https://bot.example.com/twilio/inbound"
    headers = signed_form(url, params, AUTH)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    validator = RequestValidator(AUTH)
    assert validator.validate(url, params, headers["X-Twilio-Signature"])
    assert not validator.validate(url, {**params, "Body": "forged"}, headers["X-Twilio-Signature"])
    assert not RequestValidator("other").validate(url, params, headers["X-Twilio-Signature"])

    sms = inbound_params("+6281234567890", "+14155550100", "halo")
    assert sms["MessageSid"].startswith("SM") and sms["FromCountry"] == "ID"
    assert sms["FromCity"] == "" and "WaId" not in sms
    callback = status_params(
        {"sid": "SM1", "to": "+62811", "from": "+1415"}, "failed", error_code=30008
    )
    assert callback["MessageStatus"] == "failed" and callback["ErrorCode"] == "30008"
    assert num_segments("a" * 160) == 1 and num_segments("a" * 161) == 2
    assert num_segments("é" * 160) == 1 and num_segments("ü" * 160) == 1
    assert num_segments("😀" * 35) == 1 and num_segments("😀" * 36) == 2
