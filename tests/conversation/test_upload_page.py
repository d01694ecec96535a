"""SMS customers send their ID proof through a one-time upload link, in a real browser.

The web app runs in-process under a real uvicorn server with the Twilio adapter, talking
to a FakeTwilio in the same event loop. The SMS conversation goes through signed
webhooks; the link in the TwiML reply is opened in headless Chromium (Playwright, the
system's /usr/bin/chromium), where a file is chosen and submitted like a person would.
The next step then arrives by SMS through Twilio's REST API. Expected texts come from
the message catalogue.
"""

from __future__ import annotations

import re
import socket
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from bot.infra.catalogue import Catalogue
from bot.infra.clock import Clock, utc_now
from bot.settings import Settings, load_settings
from integrations.twilio.adapter import TwilioAdapter
from integrations.twilio.text import SMS_MAX_SEGMENTS, segments
from tests.conftest import FakeClock, mailbox_of
from tests.fakes.twilio_api import FakeTwilio, signed_form
from tests.server import RunningServer, running_server

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE = {"width": 390, "height": 844}  # a common Android/iPhone CSS viewport
CUSTOMER = "+6281234567890"
SMS_NUMBER = "+15005550006"
LIMIT_MB = 10
LINK_HOURS = 24
CODE_MINUTES = 10
CATALOGUE = Catalogue.load()


def text(key: str, language: str = "id", **params: object) -> str:
    return CATALOGUE.text(language, key).format(**params)


def real_png(width: int = 48, height: int = 32) -> bytes:
    """A small but complete, decodable PNG (RGB gradient)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 5 % 256, y * 7 % 256, 128)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# A Windows executable with an image's name: the page must refuse it by content.
FAKE_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\0\0"


# server ---------------------------------------------------------------------


@asynccontextmanager
async def serving_sms(
    tmp_path: Path, tw: FakeTwilio, clock: Clock = utc_now
) -> AsyncIterator[RunningServer]:
    """tests.server.running_server on a port chosen *before* the settings are built: the
    upload link is PRIVACYBOT_PUBLIC_URL + /upload/..., and the browser must be able to
    open it, so the public URL has to be the server's real http://127.0.0.1:PORT. The
    listening socket is handed to uvicorn, so no other process can take the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings: Settings = load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        public_url=url,
        twilio_account_sid=tw.account_sid,
        twilio_auth_token=tw.auth_token,
        twilio_api_base_url=tw.base_url,
        twilio_sms_number=SMS_NUMBER,
    )
    try:
        async with running_server(
            settings, lambda core: [TwilioAdapter(core)], clock, sock=sock
        ) as server:
            yield server
    finally:
        sock.close()


@pytest.fixture
async def tw() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def phone_page(browser):
    context = await browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="id-ID",
    )
    return await context.new_page()


# the SMS conversation -----------------------------------------------------


class SmsCustomer:
    """A phone on SMS: each message is a signed Twilio webhook; replies are TwiML."""

    def __init__(self, server: RunningServer, tw: FakeTwilio, client: httpx.AsyncClient):
        self.server = server
        self.tw = tw
        self.client = client
        self.bodies: list[str] = []  # every TwiML <Message> body received

    async def say(self, body: str) -> str:
        params = self.tw.inbound_params(CUSTOMER, SMS_NUMBER, body)
        headers = signed_form(self.server.public("/webhooks/twilio"), params, self.tw.auth_token)
        response = await self.client.post(
            self.server.url + "/webhooks/twilio", data=params, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        root = ElementTree.fromstring(response.text)
        messages = root.findall("Message")
        assert messages, response.text
        bodies = [m.text or "" for m in messages]
        self.bodies.extend(bodies)
        return "\n\n".join(bodies)


async def sms_to_upload_link(server: RunningServer, tw: FakeTwilio) -> tuple[str, list[str]]:
    """An access request in Indonesian up to the ID-proof step; (the link, all bodies)."""
    async with httpx.AsyncClient(timeout=10) as client:
        customer = SmsCustomer(server, tw, client)
        assert text("sms.menu.welcome") in await customer.say("halo")
        reply = await customer.say("2")
        assert text("intro.access") in reply
        assert text("prompt.full_name") in reply
        assert text("prompt.email") in await customer.say("Budi Santoso")
        mailbox = mailbox_of(server.core.engine)  # the development mailer's outbox
        reply = await customer.say("budi@example.com")
        assert text("prompt.email_code", email="budi@example.com", minutes=CODE_MINUTES) in reply
        reply = await customer.say(mailbox.latest_code("budi@example.com"))
        assert text("code.verified") in reply
        assert text("prompt.reason.access") in reply
        reply = await customer.say("lewati")
    found = re.findall(re.escape(server.url) + r"/upload/[A-Za-z0-9_-]+", reply)
    assert len(found) == 1, reply
    link = found[0]
    assert len(link.rsplit("/", 1)[1]) >= 32  # a 192-bit token, not a guessable id
    expected = text("sms.prompt.id_proof", limit_mb=LIMIT_MB, hours=LINK_HOURS, upload_url=link)
    assert expected in reply
    return link, customer.bodies


def assert_sms_sized(bodies: list[str]) -> None:
    for body in bodies:
        assert segments(body) <= SMS_MAX_SEGMENTS, (segments(body), body)


async def upload(page, path: Path):
    """Choose ``path`` in the page's file input and submit; the POST's response."""
    await page.set_input_files("input[type=file]", str(path))
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.click("button[type=submit]")
    response = await posted.value
    await page.wait_for_load_state()
    return response


def assert_private_page(headers: dict[str, str]) -> None:
    assert headers.get("cache-control") == "no-store"
    assert headers.get("referrer-policy") == "no-referrer"


# tests ----------------------------------------------------------------------


async def test_sms_upload_link_in_a_phone_browser(tmp_path: Path, tw: FakeTwilio, browser):
    async with serving_sms(tmp_path, tw) as server:
        link, bodies = await sms_to_upload_link(server, tw)
        assert_sms_sized(bodies)

        page = await phone_page(browser)
        opened = await page.goto(link)
        assert opened is not None and opened.status == 200
        assert_private_page(opened.headers)
        assert await page.get_attribute("html", "lang") == "id"
        assert await page.title() == text("upload.title")
        assert (await page.inner_text("h1")).strip() == text("upload.title")
        assert text("upload.intro") in await page.inner_text("main")
        assert text("upload.rules", limit_mb=LIMIT_MB) in await page.inner_text("main")

        # Laid out for the phone: nothing wider than the screen, the button fully visible.
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        box = await page.locator("button[type=submit]").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert (await page.inner_text("button[type=submit]")).strip() == text("upload.submit")
        shot = tmp_path / "upload-form.png"
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 1000
        assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

        photo = tmp_path / "ktp.png"
        photo.write_bytes(real_png())
        done = await upload(page, photo)
        assert done.status == 200
        assert_private_page(done.headers)
        assert (await page.inner_text(".message.done")).strip() == text("upload.done")
        assert await page.locator("input[type=file]").count() == 0
        await page.screenshot(path=str(tmp_path / "upload-done.png"), full_page=True)

        # The next step (the summary) goes out by SMS through the REST API.
        sent = await tw.wait_for_messages(1, timeout=5)
        assert all(m["to"] == CUSTOMER and m["from"] == SMS_NUMBER for m in sent)
        everything = "\n\n".join(m["body"] for m in sent)
        assert text("proof.received") in everything
        assert "Periksa permintaan" in everything  # sms.summary's opening words
        assert "Budi Santoso" in everything and "budi@example.com" in everything
        assert everything.rstrip().endswith("3 Batal")
        for message in sent:
            assert message["status_callback"].startswith(server.url + "/webhooks/twilio/status?o=")
        assert_sms_sized([m["body"] for m in sent])

        # One file kept for the draft, readable by the service only, and sealed.
        stored = [p for p in (tmp_path / "data" / "files").rglob("*") if p.is_file()]
        assert len(stored) == 1 and stored[0].stat().st_mode & 0o777 == 0o600
        sealed = stored[0].read_bytes()
        assert photo.read_bytes() not in sealed and photo.read_bytes()[:16] not in sealed

        # Single use: the same link now says it is no longer valid.
        again = await page.goto(link)
        assert again is not None and again.status == 410
        assert_private_page(again.headers)
        assert (await page.inner_text(".message.error")).strip() == text("upload.invalid")
        assert await page.locator("input[type=file]").count() == 0
        await page.context.close()


async def test_non_image_is_refused_and_the_link_still_works(
    tmp_path: Path, tw: FakeTwilio, browser
):
    async with serving_sms(tmp_path, tw) as server:
        link, _ = await sms_to_upload_link(server, tw)
        page = await phone_page(browser)
        await page.goto(link)

        exe = tmp_path / "ktp.jpg"  # really a Windows program
        exe.write_bytes(FAKE_EXE)
        refused = await upload(page, exe)
        assert refused.status == 422
        assert_private_page(refused.headers)
        alert = (await page.inner_text("[role=alert]")).strip()
        assert alert == text("hint.file_unsupported_type")
        assert await page.locator("input[type=file]").count() == 1  # try again right here
        assert tw.messages == []  # the problem is shown on the page, not texted
        assert not any(p.is_file() for p in (tmp_path / "data" / "files").rglob("*"))

        reopened = await page.goto(link)
        assert reopened is not None and reopened.status == 200
        assert await page.locator("input[type=file]").count() == 1

        photo = tmp_path / "ktp.png"
        photo.write_bytes(real_png())
        done = await upload(page, photo)
        assert done.status == 200
        assert (await page.inner_text(".message.done")).strip() == text("upload.done")
        sent = await tw.wait_for_messages(1, timeout=5)
        assert text("proof.received") in "\n\n".join(m["body"] for m in sent)
        await page.context.close()


async def test_expired_link_shows_invalid(tmp_path: Path, tw: FakeTwilio, browser):
    clock = FakeClock()
    async with serving_sms(tmp_path, tw, clock=clock) as server:
        link, _ = await sms_to_upload_link(server, tw)
        clock.advance(hours=LINK_HOURS + 1)

        page = await phone_page(browser)
        opened = await page.goto(link)
        assert opened is not None and opened.status == 410
        assert_private_page(opened.headers)
        assert await page.get_attribute("html", "lang") == "id"
        assert (await page.inner_text(".message.error")).strip() == text("upload.invalid")
        assert await page.locator("input[type=file]").count() == 0
        await page.context.close()

        # Posting a file to it anyway changes nothing.
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(link, files={"file": ("ktp.png", real_png())})
        assert response.status_code == 410
        assert tw.messages == []
        assert not any(p.is_file() for p in (tmp_path / "data" / "files").rglob("*"))
