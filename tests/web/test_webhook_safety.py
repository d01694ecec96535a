"""Webhooks under attack and abuse: media URLs that point elsewhere, message ids
reused by another sender, malformed fields, status callbacks naming odd ids,
clients that drop mid-body. Real server, real clients, local fakes only."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.conversation.engine import Engine, ForeignRepeat
from bot.domain.models import Channel, InboundMessage
from tests.conftest import CODE, PNG
from tests.integrations.test_telegram import CHAT, OTHER_CHAT, telegram_bot, texts
from tests.integrations.test_twilio import (
    CUSTOMER,
    SMS_NUMBER,
    WHATSAPP_NUMBER,
    Twilio,
    _count_inbound,
    twiml_bodies,
)

OTHER = "+6289876543210"


class Foreign:
    """A host that is not Twilio's: it records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        return web.Response(body=PNG, content_type="image/png")


@pytest.fixture
async def foreign() -> AsyncIterator[Foreign]:
    host = Foreign()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", host.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    host.url = f"http://127.0.0.1:{port}"
    yield host
    await runner.cleanup()


async def at_id_proof(twilio: Twilio) -> None:
    for line in ("2", "Siti Aminah", "siti@example.com", CODE, "lewati"):
        await twilio.say(line)


async def send_media(twilio: Twilio, url: str, sid: str) -> httpx.Response:
    params = twilio.fake.inbound_params(f"whatsapp:{CUSTOMER}", WHATSAPP_NUMBER, "", sid)
    params.update({"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/png"})
    return await twilio.post("/webhooks/twilio", params)


# item 9 ------------------------------------------------------------------


ELSEWHERE = [
    "{foreign}/2010-04-01/Accounts/{account}/Messages/MM1/Media/ME1",
    # Looks like the API host but is not: userinfo, and a longer host name.
    "http://127.0.0.1:{api_port}@{foreign_host}/Media/ME2",
    "https://api.twilio.com.{foreign_host}/Media/ME3",
]


@pytest.mark.parametrize("pattern", ELSEWHERE)
async def test_media_is_fetched_only_from_twilios_api_host(
    twilio: Twilio, foreign: Foreign, pattern: str
) -> None:
    await at_id_proof(twilio)
    url = pattern.format(
        foreign=foreign.url,
        foreign_host=foreign.url.removeprefix("http://"),
        account=twilio.fake.account_sid,
        api_port=twilio.fake.base_url.rsplit(":", 1)[1],
    )
    response = await send_media(twilio, url, "MM" + "6" * 32)
    assert response.status_code == 200
    assert "kirim ulang" in twiml_bodies(response.text)[0].lower()
    assert foreign.requests == []  # no request at all, so no credentials either
    async with twilio.server.core.services.store.transaction() as tx:
        conversation = await tx.get_conversation(Channel.WHATSAPP, CUSTOMER)
    assert conversation is not None and conversation.state == "access.id_proof"
    # From the API host it works, and its redirect is followed without credentials.
    msid = "MM" + "7" * 32
    url = twilio.fake.add_media(msid, None, PNG, "image/png")
    bodies = twiml_bodies((await send_media(twilio, url, msid)).text)
    assert "Siti Aminah" in bodies[0]
    assert twilio.fake.cdn_requests
    assert all(r["authorization"] is None for r in twilio.fake.cdn_requests)


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "\x00http://x", "http://xn--/", "http://127.0.0.1:99999/x", "//", "x"],
)
async def test_malformed_media_urls_ask_for_the_file_again(twilio: Twilio, url: str) -> None:
    await at_id_proof(twilio)
    response = await send_media(twilio, url, "MM" + "8" * 32)
    assert response.status_code == 200, response.text
    assert "kirim ulang" in twiml_bodies(response.text)[0].lower()


# item 10 -----------------------------------------------------------------


async def test_a_message_id_reused_by_another_sender_is_refused(
    twilio: Twilio, caplog: pytest.LogCaptureFixture
) -> None:
    sid = "SM" + "9" * 32
    first = await twilio.say("halo", message_sid=sid)
    params = twilio.fake.inbound_params(f"whatsapp:{OTHER}", WHATSAPP_NUMBER, "halo", sid)
    with caplog.at_level(logging.INFO):
        response = await twilio.post("/webhooks/twilio", params)
    assert response.status_code == 400
    assert all(body not in response.text for body in first)
    assert "<Message" not in response.text
    refused = [r for r in caplog.records if "another sender" in r.getMessage()]
    assert refused and refused[0].levelno == logging.WARNING
    assert all(
        OTHER[3:] not in r.getMessage() and CUSTOMER[3:] not in r.getMessage()
        for r in caplog.records
    )
    async with twilio.server.core.services.store.transaction(readonly=True) as tx:
        assert await tx.get_conversation(Channel.WHATSAPP, OTHER) is None
    # The same sender repeating it is still a repeat: the same answer.
    assert await twilio.say("halo", message_sid=sid) == first
    # On SMS the same id is another channel's: a new message, not a repeat.
    params = twilio.fake.inbound_params(OTHER, SMS_NUMBER, "halo", sid)
    assert (await twilio.post("/webhooks/twilio", params)).status_code == 200
    assert await _count_inbound(twilio.server) == 2


async def test_the_engine_tells_a_repeat_from_a_foreign_reuse_on_every_channel(
    engine: Engine,
) -> None:
    """The rule lives in the engine: the terminal gets it too, and two senders
    racing with one id get one answer and one refusal, never a shared one."""
    first = await engine.handle(InboundMessage(Channel.TERMINAL, "ani", "m-1", "halo"))
    assert await engine.handle(InboundMessage(Channel.TERMINAL, "ani", "m-1", "halo")) == first
    with pytest.raises(ForeignRepeat):
        await engine.handle(InboundMessage(Channel.TERMINAL, "budi", "m-1", "halo"))
    with pytest.raises(ForeignRepeat):
        await engine.recorded_replies(Channel.TERMINAL, "budi", "m-1")
    raced = await asyncio.gather(
        *(
            engine.handle(InboundMessage(Channel.TERMINAL, who, "m-2", "halo"))
            for who in ("citra", "dewi")
        ),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in raced) == ["ForeignRepeat", "list"]


async def test_a_callback_id_reused_from_another_telegram_chat_is_dropped(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    async with telegram_bot(tmp_path, webhook=True) as tg:
        await tg.text("/start")
        await tg.text("/start", OTHER_CHAT)
        press = tg.fake.stamp(tg.callback("4"))
        await tg.say(press)
        forged = copy.deepcopy(press)
        forged["update_id"] += 1000
        forged["callback_query"]["message"]["chat"]["id"] = OTHER_CHAT
        forged["callback_query"]["from"]["id"] = OTHER_CHAT
        before = len(tg.fake.sent)
        with caplog.at_level(logging.INFO):
            response = await tg.post(forged)
        assert response.status_code == 200  # dropped: not worth a retry
        assert tg.fake.sent[before:] == []
        assert any("another sender" in r.getMessage() for r in caplog.records)


# malformed input ---------------------------------------------------------


async def test_status_callbacks_with_odd_ids_get_no_5xx(twilio: Twilio) -> None:
    status = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "delivered"}
    for query, expected in (
        ("99999999999999999999", 400),
        ("12,x", 400),
        ("%D9%A1", 400),  # an Arabic-Indic digit: str.isdigit() says yes
        ("4242", 204),  # no such message: nothing to record against
        ("", 204),
    ):
        response = await twilio.post(f"/webhooks/twilio/status?o={query}", status)
        assert response.status_code == expected, (query, response.text)
    many = ",".join(str(i) for i in range(1, 5001))
    started = time.monotonic()
    response = await twilio.post(f"/webhooks/twilio/status?o={many}", status)
    assert response.status_code == 400
    assert time.monotonic() - started < 1
    failed = {"MessageSid": "SM" + "d" * 32, "MessageStatus": "failed", "To": "whatsapp:+1"}
    assert (await twilio.post("/webhooks/twilio/status?o=4242", failed)).status_code == 204


def _broken(update: dict[str, Any], how: str) -> dict[str, Any]:
    update = copy.deepcopy(update)
    message = update["message"]
    if how == "no chat":
        del message["chat"]
    elif how == "no from":
        del message["from"]
    else:
        message["chat"]["id"] = {"abc": "abc", "null": None, "float": 1.5, "bool": True}[how]
    return update


@pytest.mark.parametrize("how", ["abc", "null", "float", "bool", "no chat", "no from"])
async def test_malformed_telegram_updates_are_dropped_with_200(
    tmp_path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with telegram_bot(tmp_path, webhook=True) as tg:
        update = tg.fake.stamp(_broken(tg.fake.text_update(CHAT, "halo"), how))
        with caplog.at_level(logging.INFO):
            response = await tg.post(update)
        assert response.status_code == 200, response.text
        if how == "no from":  # the chat still says whom to answer
            assert tg.fake.sent and int(tg.fake.sent[0]["chat_id"]) == CHAT
        else:
            assert any("dropped" in r.getMessage() for r in caplog.records)
        assert not any(r.exc_info for r in caplog.records)
        # And the bot still works.
        assert await tg.text("/start")


async def test_a_busy_database_still_asks_telegram_to_retry(tmp_path) -> None:
    async with telegram_bot(tmp_path, webhook=True) as tg:
        update = tg.fake.stamp(tg.fake.text_update(CHAT, "/start"))
        store = tg.server.core.services.store
        real = store.transaction

        def busy(*args: Any, **kwargs: Any) -> Any:
            from bot.store import StoreError

            raise StoreError("database is locked")

        store.transaction = busy  # type: ignore[method-assign]
        try:
            response = await tg.post(update)
        finally:
            store.transaction = real  # type: ignore[method-assign]
        assert response.status_code == 503
        assert (await tg.post(update)).status_code == 200
        assert texts(tg.fake.sent)[0].startswith("Halo!")


async def test_a_busy_database_asks_twilio_to_retry_without_a_traceback(
    twilio: Twilio, caplog: pytest.LogCaptureFixture
) -> None:
    store = twilio.server.core.services.store
    real = store.transaction

    def busy(*args: Any, **kwargs: Any) -> Any:
        from bot.store import StoreError

        raise StoreError("database is locked")

    store.transaction = busy  # type: ignore[method-assign]
    params = twilio.fake.inbound_params(f"whatsapp:{CUSTOMER}", WHATSAPP_NUMBER, "halo", "SM1")
    try:
        with caplog.at_level(logging.INFO):
            response = await twilio.post("/webhooks/twilio", params)
    finally:
        store.transaction = real  # type: ignore[method-assign]
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert not any(r.exc_info for r in caplog.records)
    assert all(CUSTOMER[3:] not in r.getMessage() for r in caplog.records)
    # Twilio's retry of the same message is then answered as the first one.
    again = await twilio.post("/webhooks/twilio", params)
    assert again.status_code == 200 and twiml_bodies(again.text)


# item 16 -----------------------------------------------------------------


async def _drop_mid_body(url: str, path: str, headers: dict[str, str]) -> None:
    host, port = url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Length: 1000"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + b"Body=abc&From=")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    await writer.wait_closed()


async def test_a_client_dropping_mid_body_leaves_one_line(
    twilio: Twilio, caplog: pytest.LogCaptureFixture
) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    targets = [
        ("/webhooks/twilio", {**form, "X-Twilio-Signature": "x"}),
        ("/webhooks/twilio/status", {**form, "X-Twilio-Signature": "x"}),
        ("/console/login", form),
    ]
    with caplog.at_level(logging.DEBUG):
        for path, headers in targets:
            await _drop_mid_body(twilio.server.url, path, headers)
        await asyncio.sleep(0.3)
    lines = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(lines) == len(targets), [r.getMessage() for r in caplog.records]
    assert not any(r.exc_info for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)
    assert (await twilio.http.get(twilio.server.url + "/healthz")).status_code == 200
