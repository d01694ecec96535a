"""End-to-end tests of ``privacybot serve``: the real console script in its own process.

Each test starts the installed ``privacybot serve`` on a free 127.0.0.1 port with an
environment made from this one minus every PRIVACYBOT_*, TWILIO_* and TELEGRAM_*
variable, plus what the test sets. The fake Twilio and Telegram servers run in the
test's event loop, so the process is started and awaited with asyncio (never a
blocking call) and the fakes keep answering while it runs. Expected customer texts
come from the message catalogue.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import hashlib
import json
import os
import re
import signal
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import httpx
import pytest

from bot.infra.catalogue import Catalogue
from bot.infra.images import strip_metadata
from tests.conftest import JPEG, console_script, database_env
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio, new_sid, signed_form
from tests.raw import sql

pytestmark = pytest.mark.slow

PUBLIC_URL = "https://bot.jovapos.test"
WHATSAPP_NUMBER = "whatsapp:+14155238886"
SMS_NUMBER = "+15005550006"
CUSTOMER = "whatsapp:+6281234567890"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LIMIT_MB = 10
CODE_MINUTES = 10
CODE_LINE = re.compile(r"^(\d{6})$", re.MULTILINE)
REFERENCE = re.compile(r"\bDEL-[0-9A-HJKMNP-TV-Z]{6}\b")
CATALOGUE = Catalogue.load()


PRIVACYBOT = console_script()


def text(key: str, language: str = "id", **params: object) -> str:
    return CATALOGUE.text(language, key).format(**params)


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PRIVACYBOT_", "TWILIO_", "TELEGRAM_"))
    }
    env["PRIVACYBOT_DATA_DIR"] = str(data_dir)
    env.update(database_env(data_dir))  # the PostgreSQL pass: the test's database
    env.update(extra)
    return env


def channel_env(data_dir: Path, tw: FakeTwilio, tg: FakeTelegram) -> dict[str, str]:
    return base_env(
        data_dir,
        PRIVACYBOT_PUBLIC_URL=PUBLIC_URL,
        TWILIO_ACCOUNT_SID=tw.account_sid,
        TWILIO_AUTH_TOKEN=tw.auth_token,
        TWILIO_API_BASE_URL=tw.base_url,
        TWILIO_WHATSAPP_NUMBER=WHATSAPP_NUMBER,
        TWILIO_SMS_NUMBER=SMS_NUMBER,
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_API_BASE_URL=tg.base_url,
        TELEGRAM_FILE_BASE_URL=tg.base_file_url,
    )


def mailed_code(data_dir: Path, to: str) -> str:
    """The code in the one development mail (an .eml file) the server wrote for
    ``to``: written just after the reply, so it may take a moment."""
    for _ in range(250):
        found = []
        for path in (data_dir / "mail").glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes())
            if message["To"] != to:
                continue
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True)
                    body = payload.decode(part.get_content_charset() or "utf-8")
                    found += CODE_LINE.findall(body)
        if found:
            break
        time.sleep(0.02)
    assert len(found) == 1, found
    return found[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    process: asyncio.subprocess.Process
    url: str
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    async def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit status and how long the process took to end."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"privacybot serve still running {STOP_TIMEOUT}s after SIGTERM")
        return code, time.monotonic() - started


@asynccontextmanager
async def serve(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[Served]:
    """``privacybot serve --port P`` until /healthz answers; stopped again afterwards."""
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            PRIVACYBOT,
            "serve",
            "--port",
            str(port),
            env=env,
            cwd=tmp_path,  # no stray .env from the checkout
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log_path)
    try:
        await _wait_ready(served)
        yield served
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_ready(served: Served) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if served.process.returncode is not None:
                pytest.fail(
                    f"privacybot serve exited with {served.process.returncode}:\n{served.log}"
                )
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(served.url + "/healthz")).status_code == 200:
                    return
            if loop.time() > deadline:
                pytest.fail(f"privacybot serve not ready within {READY_TIMEOUT}s:\n{served.log}")
            await asyncio.sleep(0.1)


async def run_cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        PRIVACYBOT,
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def tw() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


# Twilio over real HTTP ----------------------------------------------------------


@dataclass
class TwiML:
    status: int
    bodies: list[str]
    actions: list[str]

    @property
    def text(self) -> str:
        return "\n\n".join(self.bodies)


class WhatsAppCustomer:
    def __init__(self, served: Served, tw: FakeTwilio, client: httpx.AsyncClient) -> None:
        self.served = served
        self.tw = tw
        self.client = client
        self.replies: list[TwiML] = []

    async def say(self, body: str = "", media: list[str] | None = None, sid: str | None = None):
        params = self.tw.inbound_params(
            CUSTOMER, WHATSAPP_NUMBER, body, message_sid=sid, media=media or []
        )
        headers = signed_form(PUBLIC_URL + "/webhooks/twilio", params, self.tw.auth_token)
        response = await self.client.post(
            self.served.url + "/webhooks/twilio", data=params, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        root = ElementTree.fromstring(response.text)
        assert root.tag == "Response"
        messages = root.findall("Message")
        assert messages, response.text
        reply = TwiML(
            response.status_code,
            [m.text or "" for m in messages],
            [m.get("action", "") for m in messages],
        )
        self.replies.append(reply)
        return reply


# a. no credentials ----------------------------------------------------------------


async def test_serve_without_credentials(tmp_path: Path):
    data_dir = tmp_path / "data"
    assert not data_dir.exists()
    async with serve(tmp_path, base_env(data_dir)) as served:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(served.url + "/healthz")
        assert response.status_code == 200
        health = response.json()
        assert health["status"] == "ok"
        assert health["database"] == "ok"
        assert health["channels"] == {
            "telegram": {"enabled": False},
            "whatsapp": {"enabled": False},
            "sms": {"enabled": False},
        }
        if not database_env(data_dir):  # SQLite: the database is a file of the folder
            assert (data_dir / "privacybot.db").is_file()

        disabled = [line for line in served.log.splitlines() if "disabled" in line]
        for channel in ("WhatsApp", "SMS", "Telegram"):
            naming = [line for line in disabled if re.search(rf"\b{channel}\b", line)]
            assert len(naming) == 1, (channel, served.log)
        twilio_line = next(line for line in disabled if "WhatsApp" in line)
        assert "TWILIO_ACCOUNT_SID" in twilio_line and "TWILIO_AUTH_TOKEN" in twilio_line
        telegram_line = next(line for line in disabled if "Telegram" in line)
        assert "TELEGRAM_BOT_TOKEN" in telegram_line

        code, took = await served.terminate()
        assert took < STOP_TIMEOUT
        # Graceful: the lifespan finished (engine closed) before the process ended.
        assert "Application shutdown complete" in served.log
        assert "Traceback" not in served.log
        assert code == 0


# b. a whole WhatsApp deletion request ------------------------------------------


async def test_whatsapp_deletion_request_over_http(
    tmp_path: Path, tw: FakeTwilio, tg: FakeTelegram
):
    data_dir = tmp_path / "data"
    env = channel_env(data_dir, tw, tg)
    async with serve(tmp_path, env) as served, httpx.AsyncClient(timeout=15) as client:
        health = (await client.get(served.url + "/healthz")).json()
        assert health["database"] == "ok"
        for channel in ("whatsapp", "sms", "telegram"):
            assert health["channels"][channel]["enabled"] is True, health
        assert health["channels"]["telegram"]["mode"] == "polling"

        customer = WhatsAppCustomer(served, tw, client)
        assert text("menu.welcome") in (await customer.say("halo")).text
        assert text("prompt.consequences") in (await customer.say("1")).text
        assert text("prompt.full_name") in (await customer.say("1")).text
        assert text("prompt.email") in (await customer.say("Budi Santoso")).text
        reply = await customer.say("budi@example.com")
        assert text("prompt.email_code", email="budi@example.com", minutes=CODE_MINUTES) in (
            reply.text
        )
        # No SMTP server: the code went to an .eml file in the data folder.
        mail_code = mailed_code(data_dir, "budi@example.com")
        reply = await customer.say(mail_code)
        assert text("code.verified") in reply.text
        assert text("prompt.reason.deletion") in reply.text
        reply = await customer.say("2")
        assert text("prompt.id_proof", limit_mb=LIMIT_MB) in reply.text

        # The ID proof: a photo Twilio holds; the server fetches it via the CDN.
        message_sid = new_sid("MM")
        media_sid = new_sid("ME")
        url = tw.add_media(message_sid, media_sid, JPEG, "image/jpeg")
        reply = await customer.say("", media=[url], sid=message_sid)
        assert text("proof.received") in reply.text
        assert "Budi Santoso" in reply.text and "budi@example.com" in reply.text
        assert text("summary.proof_attached") in reply.text

        media_gets = [r for r in tw.requests if r["method"] == "GET" and media_sid in r["path"]]
        assert media_gets and all("Authorization" in r["headers"] for r in media_gets)
        assert tw.cdn_requests, "the media was never fetched from the CDN"
        assert all(r["authorization"] is None for r in tw.cdn_requests)
        for _ in range(250):  # deleted in the background, after the answer
            if tw.deleted_media:
                break
            await asyncio.sleep(0.02)
        assert tw.deleted_media == [(message_sid, media_sid)]
        assert not tw.has_media(message_sid, media_sid)

        reply = await customer.say("1")
        references = set(REFERENCE.findall(reply.text))
        assert len(references) == 1, reply.text
        reference = references.pop()

        # Every <Message> names its reply rows in a status callback on the public URL.
        for twiml in customer.replies:
            assert len(twiml.actions) == len(twiml.bodies)
            for action in twiml.actions:
                parts = urlsplit(action)
                assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
                    PUBLIC_URL + "/webhooks/twilio/status"
                ), action
                ids = parse_qs(parts.query)["o"][0].split(",")
                assert ids and all(i.isdigit() for i in ids), action

        action = reply.actions[-1]
        status = tw.status_params(
            {"sid": new_sid("SM"), "to": CUSTOMER, "from": WHATSAPP_NUMBER}, "delivered"
        )
        parts = urlsplit(action)
        response = await client.post(
            f"{served.url}{parts.path}?{parts.query}",
            data=status,
            headers=signed_form(action, status, tw.auth_token),
        )
        assert 200 <= response.status_code < 300, response.text
        ids = [int(i) for i in parse_qs(parts.query)["o"][0].split(",")]
        rows = sql(
            data_dir / "privacybot.db",
            "SELECT id, delivery_status, provider_id FROM outbound_messages "
            "WHERE delivery_status IS NOT NULL",
        )
        assert sorted(r[0] for r in rows) == sorted(ids)  # exactly the rows it named
        assert {(r[1], r[2]) for r in rows} == {("delivered", status["MessageSid"])}

        # Staff see it from another process on the same data folder, while serving.
        code, out, err = await run_cli(env, tmp_path, "requests", "list", "--json")
        assert code == 0, err
        listed = {r["reference"]: r for r in json.loads(out)}
        assert reference in listed
        filed = listed[reference]
        assert filed["channel"] == "whatsapp"
        assert filed["type"] == "deletion"
        assert filed["customer_address"] == CUSTOMER.removeprefix("whatsapp:")
        assert filed["full_name"] == "Budi Santoso"
        assert filed["status"] == "verifying"

        code, out, err = await run_cli(env, tmp_path, "requests", "show", reference, "--json")
        assert code == 0, err
        attachments = json.loads(out)["attachments"]
        stored = strip_metadata(JPEG, "image/jpeg")  # what is kept: the photo minus metadata
        assert len(attachments) == 1 and attachments[0]["size"] == len(stored)
        assert attachments[0]["sha256"] == hashlib.sha256(stored).hexdigest()
        # Sealed on disk: not the photo as sent, nor as kept.
        [blob] = [p for p in (data_dir / "files").rglob("*") if p.is_file()]
        sealed = blob.read_bytes()
        assert JPEG not in sealed and JPEG[:16] not in sealed and stored not in sealed

    # The log says where mail goes; it never carries phone numbers, names, emails or codes.
    assert str(data_dir / "mail") in served.log
    for secret in ("6281234567890", "Budi Santoso", "budi@example.com", mail_code):
        assert secret not in served.log


# c. Telegram long polling -------------------------------------------------------


async def test_telegram_start_gets_the_menu_by_long_polling(
    tmp_path: Path, tw: FakeTwilio, tg: FakeTelegram
):
    async with serve(tmp_path, channel_env(tmp_path / "data", tw, tg)):
        chat_id = 700_001
        tg.push_update(tg.text_update(chat_id, "/start", language_code="id"))
        sent = await tg.wait_for_sent(1, timeout=5)
        assert sent[0]["chat_id"] == chat_id
        assert sent[0]["text"] == text("menu.welcome")
        assert tg.commands_for("id"), "the command menu was not registered"


# d. refused webhooks ------------------------------------------------------------


async def test_unsigned_and_oversized_webhooks_are_refused(
    tmp_path: Path, tw: FakeTwilio, tg: FakeTelegram
):
    async with serve(tmp_path, channel_env(tmp_path / "data", tw, tg)) as served:
        webhook = served.url + "/webhooks/twilio"
        params = tw.inbound_params(CUSTOMER, WHATSAPP_NUMBER, "halo")
        async with httpx.AsyncClient(timeout=15) as client:
            unsigned = await client.post(webhook, data=params)
            assert unsigned.status_code == 403

            wrong = signed_form(PUBLIC_URL + "/webhooks/twilio", params, "not-the-token")
            assert (await client.post(webhook, data=params, headers=wrong)).status_code == 403

            headers = signed_form(PUBLIC_URL + "/webhooks/twilio", params, tw.auth_token)
            big = b"Body=" + b"a" * (1024 * 1024)
            declared = await client.post(webhook, content=big, headers=headers)
            assert declared.status_code == 413

            # Still serving, and none of it reached a conversation.
            assert (await client.get(served.url + "/healthz")).status_code == 200
            assert (await client.post(webhook, data=params, headers=headers)).status_code == 200
    assert "Traceback" not in served.log


async def _over_a_megabyte() -> AsyncIterator[bytes]:
    yield b"Body="
    for _ in range(17):  # 17 x 64 KiB > 1 MiB, sent chunked: no Content-Length
        yield b"a" * 65536


async def test_oversized_chunked_webhook_gets_413(tmp_path: Path, tw: FakeTwilio, tg: FakeTelegram):
    async with serve(tmp_path, channel_env(tmp_path / "data", tw, tg)) as served:
        params = tw.inbound_params(CUSTOMER, WHATSAPP_NUMBER, "halo")
        headers = signed_form(PUBLIC_URL + "/webhooks/twilio", params, tw.auth_token)
        async with httpx.AsyncClient(timeout=15) as client:
            streamed = await client.post(
                served.url + "/webhooks/twilio", content=_over_a_megabyte(), headers=headers
            )
        await asyncio.sleep(0.2)  # let the server finish logging
        assert (streamed.status_code, "Traceback" in served.log) == (413, False)


# e. and the exit status ---------------------------------------------------------


async def test_sigterm_while_idle_stops_within_10_seconds(
    tmp_path: Path, tw: FakeTwilio, tg: FakeTelegram
):
    async with serve(tmp_path, channel_env(tmp_path / "data", tw, tg)) as served:
        for _ in range(100):  # wait until Telegram's long poll hangs in the fake
            if tg.calls_of("getUpdates"):
                break
            await asyncio.sleep(0.05)
        assert tg.calls_of("getUpdates")
        await asyncio.sleep(0.3)
        code, took = await served.terminate()
    assert took < STOP_TIMEOUT
    assert "Application shutdown complete" in served.log
    assert "Traceback" not in served.log
    assert code == 0


@pytest.mark.parametrize("channels", ["none", "all"])
async def test_sigterm_exit_status_is_zero(
    tmp_path: Path, tw: FakeTwilio, tg: FakeTelegram, channels: str
):
    data_dir = tmp_path / "data"
    env = base_env(data_dir) if channels == "none" else channel_env(data_dir, tw, tg)
    async with serve(tmp_path, env) as served:
        code, _ = await served.terminate()
    assert code == 0, served.log


# f. notifications survive a SIGKILL -------------------------------------------------


async def test_queued_notifications_survive_sigkill(
    tmp_path: Path, tw: FakeTwilio, tg: FakeTelegram
) -> None:
    """Notifications queued while Twilio fails, the server killed with SIGKILL and
    started again: every one arrives, once."""
    data_dir = tmp_path / "data"
    env = channel_env(data_dir, tw, tg)
    references = []
    async with serve(tmp_path, env) as served, httpx.AsyncClient(timeout=15) as client:
        for n in range(3):
            customer_number = f"+62811000000{n}"

            async def say(body: str, number: str = customer_number) -> str:
                params = tw.inbound_params(f"whatsapp:{number}", WHATSAPP_NUMBER, body)
                headers = signed_form(PUBLIC_URL + "/webhooks/twilio", params, tw.auth_token)
                answer = await client.post(
                    served.url + "/webhooks/twilio", data=params, headers=headers
                )
                assert answer.status_code == 200
                return answer.text

            for line in ("2", "Siti Aminah", f"siti{n}@example.com"):
                await say(line)
            await say(mailed_code(data_dir, f"siti{n}@example.com"))
            for line in ("lewati", "nanti"):
                await say(line)
            references += sorted(set(re.findall(r"\bACC-[0-9A-HJKMNP-TV-Z]{6}\b", await say("1"))))
        assert len(references) == 3
        tw.fail_next_messages(10_000, status=503)  # Twilio is down
        for ref in references:
            code, _, err = await run_cli(env, tmp_path, "requests", "ask", ref, "--message", "KTP?")
            assert code == 0, err
        await asyncio.sleep(1.5)  # the worker tries, fails, backs off
        served.process.kill()  # SIGKILL: no clean shutdown
        await served.process.wait()
    assert tw.messages == []
    tw._message_failures.clear()  # Twilio is back
    async with serve(tmp_path, env):
        for _ in range(200):
            if len(tw.messages) >= 3:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # nothing more may come
    assert sorted(m["to"] for m in tw.messages) == [f"whatsapp:+62811000000{n}" for n in range(3)]
    assert all(any(ref in m["body"] for ref in references) for m in tw.messages)


async def test_chunked_bodies_are_bounded_and_handed_on_whole() -> None:
    """BodyLimit reads a chunked body up to its (small) limit, refuses one over
    it, gives the app exactly the bytes sent, and wants a length where large
    bodies are allowed."""
    import hashlib

    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    from bot.web.app import BodyLimit

    async def echo(scope, receive, send):  # type: ignore[no-untyped-def]
        body = await Request(scope, receive).body()
        digest = hashlib.sha256(body).hexdigest()
        await PlainTextResponse(f"{len(body)} {digest}")(scope, receive, send)

    app = BodyLimit(echo, lambda path: 1024 * 1024 if path.startswith("/hook") else 50 * 2**20)
    payload = bytes(range(256)) * (3 * 1024)  # 768 KB in 12 chunks

    async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
        for i in range(0, len(data), size):
            yield data[i : i + size]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        answer = await client.post("/hook", content=chunks(payload))
        assert answer.text == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"
        empty = await client.post("/hook", content=chunks(b""))
        assert empty.text == f"0 {hashlib.sha256(b'').hexdigest()}"
        too_big = await client.post("/hook", content=chunks(payload * 2))
        assert too_big.status_code == 413
        # Where large bodies are allowed, they must say their length first.
        unsized = await client.post("/upload/x", content=chunks(payload))
        assert unsized.status_code == 411
        sized = await client.post("/upload/x", content=payload * 8)  # 6 MB with its length
        assert sized.text.startswith(f"{len(payload) * 8} ")
