"""The staff console: security over real HTTP, and a staff member's work in a
real browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.conversation.engine import Engine
from bot.infra.crypto import hash_token
from bot.requests.lookup import find_request
from bot.settings import load_settings
from bot.staff.accounts import add_staff
from tests.conftest import (
    CODE,
    CURRENT,
    PNG,
    Chat,
    FakeClock,
    file_of,
    mailbox_of,
    telegram_settings,
)
from tests.conversation.test_upload_page import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.raw import dump, raw
from tests.server import RunningServer, running_server
from tests.web.console_html import facts, notices, parse, rows, transcript

PASSWORD = "kata-sandi-yang-panjang"
ROUTES = [
    ("GET", "/console"),
    ("GET", "/console/staff"),
    ("GET", "/console/requests/ACC-AAAAAA"),
    ("GET", "/console/requests/ACC-AAAAAA/proofs/1"),
    ("POST", "/console/requests/ACC-AAAAAA/proofs/1/reveal"),
    ("POST", "/console/requests/ACC-AAAAAA/notifications/1/retry"),
    ("POST", "/console/requests/ACC-AAAAAA/verify"),
    ("POST", "/console/logout"),
    ("GET", "/console/inbox"),
    ("GET", "/console/chats/1"),
    ("POST", "/console/chats/1/claim"),
    ("GET", "/console/events"),
    ("GET", "/console/settings"),
    ("POST", "/console/staff/add"),
    ("POST", "/console/staff/change"),
    ("GET", "/console/staff/confirm"),
    ("GET", "/console/dashboard"),
    ("GET", "/console/queue.csv"),
    ("GET", "/console/audit"),
    ("GET", "/console/password"),
    ("POST", "/console/password"),
]


@dataclass
class Desk:
    server: RunningServer
    http: httpx.AsyncClient
    reference: str


@pytest.fixture
async def desk(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Desk]:
    # http: the session cookie is Secure only behind https (checked separately).
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), public_url="http://127.0.0.1"
    )
    async with (
        running_server(settings, clock=clock) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        engine = server.core.engine
        await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)
        await add_staff(engine.services, "boss@jovapos.test", "admin", PASSWORD)
        mailbox_of(engine)
        chat = Chat(engine, address="siti")
        # A restriction: completed from the console (access needs a data copy).
        await chat.script("4", "Siti Aminah", "siti@example.com", CODE, "1")
        await chat.say("Saya tidak mau menerima promosi")
        await chat.say("", file_of(PNG))
        await chat.say("1")
        reference = re.search(r"RES-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
        yield Desk(server, http, reference)


async def _log_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = await http.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    return await http.post(
        "/console/login", data={"csrf": token, "email": email, "password": password}
    )


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def test_nothing_without_a_session(desk: Desk) -> None:
    for method, path in ROUTES:
        answer = await desk.http.request(method, path, data={"csrf": "x"})
        if method == "GET":
            assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
        else:
            assert answer.status_code == 401, path


async def test_live_events_tell_of_new_messages_and_end_when_the_server_stops(
    tmp_path: Path, clock: FakeClock
) -> None:
    import asyncio
    import time

    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), public_url="http://127.0.0.1"
    )
    http = httpx.AsyncClient(timeout=10)
    async with running_server(settings, clock=clock) as server:
        http.base_url = httpx.URL(server.url)
        engine = server.core.engine
        await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)
        await _log_in(http, "ani@jovapos.test")
        script = await http.get("/console/live.js")
        assert script.status_code == 200 and "EventSource" in script.text
        assert (
            "script-src 'self'" in (await http.get("/console")).headers["content-security-policy"]
        )
        logged_in_at = clock.now
        clock.advance(minutes=5)  # an open stream is no activity: the idle clock runs on
        opened = http.stream("GET", "/console/events")
        events = await opened.__aenter__()
        assert events.headers["content-type"].startswith("text/event-stream")
        assert events.headers["cache-control"] == "no-store"
        lines = events.aiter_lines()
        assert await anext(lines) == "retry: 3000"

        async def next_change() -> str:
            while True:
                line = await anext(lines)
                if line.startswith("event: "):
                    return line

        second = http.stream("GET", "/console/events")  # another tab: told too
        other = (await second.__aenter__()).aiter_lines()
        assert await anext(other) == "retry: 3000"
        await asyncio.sleep(1.2)  # both are listening to the one watcher
        await Chat(engine, address="rina").script("staf")  # a new hand-over
        assert await asyncio.wait_for(next_change(), 5) == "event: change"
        while not (await asyncio.wait_for(anext(other), 5)).startswith("event: "):
            pass
        await second.__aexit__(None, None, None)
        # live.js fetches the page again with X-Live: that is no activity either.
        assert (await http.get("/console/inbox", headers={"X-Live": "1"})).status_code == 200
        async with engine.services.store.transaction() as tx:
            session = await tx.get_session(hash_token(http.cookies["pb_session"]))
        assert session is not None and session.last_seen_at == logged_in_at
        started = time.monotonic()
    # The server stopped with the stream still open, without waiting for it.
    assert time.monotonic() - started < 5
    with pytest.raises((StopAsyncIteration, httpx.HTTPError)):
        while True:
            await anext(lines)
    await opened.__aexit__(None, None, None)
    await http.aclose()


async def test_login_csrf_lockout_roles_and_forged_tokens(desk: Desk) -> None:
    http = desk.http
    no_token = await http.post(
        "/console/login", data={"email": "ani@jovapos.test", "password": PASSWORD}
    )
    assert no_token.status_code == 403
    for _ in range(5):
        assert (await _log_in(http, "ani@jovapos.test", "salah")).status_code == 401
    locked = await _log_in(http, "ani@jovapos.test")
    assert locked.status_code == 401  # the right password does not open a locked account
    desk.server.core.services.clock.advance(minutes=16)  # type: ignore[attr-defined]
    ok = await _log_in(http, "ani@jovapos.test")
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    queue = await http.get("/console")
    assert queue.status_code == 200 and desk.reference in queue.text
    assert queue.headers["cache-control"] == "no-store"
    assert (await http.get("/console/staff")).status_code == 403  # agents are not admins
    page = await http.get(f"/console/requests/{desk.reference}")
    forged = await http.post(
        f"/console/requests/{desk.reference}/reject",
        data={"csrf": "forged", "reason": "x", "sure": "on"},
    )
    assert forged.status_code == 403
    done = await http.post(
        f"/console/requests/{desk.reference}/ask",
        data={"csrf": _csrf(page.text), "message": "Foto buram", "sure": "on"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/requests/{desk.reference}"  # no ?done=1
    events = (await http.get(f"/console/requests/{desk.reference}")).text
    catalogue = desk.server.core.services.catalogue
    assert notices(events) == [("done", catalogue.text("id", "console.done"))]
    history = parse(events).find("ol", cls="timeline").text()
    assert "ani@jovapos.test" in history and catalogue.text("id", "console.event.ask") in history
    assert "Foto buram" in history
    assert (
        catalogue.text("id", "console.state.needs_info") in parse(events).find(cls="badge").text()
    )
    again = (await http.get(f"/console/requests/{desk.reference}")).text
    assert notices(again) == []  # the flash was read once: a reload does not show it
    await http.post("/console/logout", data={"csrf": _csrf(events)})
    assert (await http.get("/console")).status_code == 303
    await _log_in(http, "boss@jovapos.test")
    assert (await http.get("/console/staff")).status_code == 200


async def test_session_cookie_is_secure_behind_https(tmp_path: Path, clock: FakeClock) -> None:
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "d"), public_url="https://bot.jovapos.test"
    )
    async with (
        running_server(settings, clock=clock) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        await add_staff(server.core.engine.services, "ani@jovapos.test", "agent", PASSWORD)
        form = await http.get("/console/login")
        assert "Secure" in form.headers["set-cookie"]  # the login form's CSRF cookie too
        token = _csrf(form.text)
        # The client would not send a Secure cookie over plain http: hand it over.
        answer = await http.post(
            "/console/login",
            data={"csrf": token, "email": "ani@jovapos.test", "password": PASSWORD},
            headers={"Cookie": f"pb_login={token}"},
        )
        assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]


async def test_each_page_has_its_title_and_the_language_switch_keeps_the_page(
    desk: Desk,
) -> None:
    http = desk.http
    await _log_in(http, "ani@jovapos.test")
    path = f"/console/requests/{desk.reference}"
    switched = await http.get(path, params={"lang": "en"})
    assert switched.status_code == 303 and switched.headers["location"] == path
    page = await http.get(path)
    root = parse(page.text)
    assert root.find("html").attrs["lang"] == "en"
    assert root.find("title").text() == f"{desk.reference} · JOVA POS Privacy Console"
    link = root.find("a", hreflang="id")
    assert link.attrs["href"] == f"{path}?lang=id" and link.text() == "Bahasa Indonesia"
    # The queue keeps its filters across the switch, and nothing else from the URL.
    queue = await http.get("/console", params={"status": "all", "q": "siti", "sent": "x"})
    link = parse(queue.text).find("a", hreflang="id")
    assert link.attrs["href"] == "/console?status=all&q=siti&lang=id"
    back = await http.get("/console", params={"status": "all", "q": "siti", "lang": "id"})
    assert back.headers["location"] == "/console?status=all&q=siti"
    titles = set()
    for where in ("/console", "/console/inbox", path):
        titles.add(parse((await http.get(where)).text).find("title").text())
    assert titles == {
        "Antrean permintaan · Konsol Privasi JOVA POS",
        "Percakapan untuk staf · Konsol Privasi JOVA POS",
        f"{desk.reference} · Konsol Privasi JOVA POS",
    }
    # The login page reads in the language asked for, and the session keeps it.
    async with httpx.AsyncClient(base_url=desk.server.url) as other:
        form = await other.get("/console/login", params={"lang": "en"})
        assert parse(form.text).find("h1").text() == "Log in to the privacy console"
        await other.post(
            "/console/login",
            data={
                "csrf": _csrf(form.text),
                "email": "ani@jovapos.test",
                "password": PASSWORD,
                "lang": "en",
            },
        )
        assert parse((await other.get("/console")).text).find("html").attrs["lang"] == "en"


async def test_the_console_serves_its_own_stylesheet_favicon_and_script(desk: Desk) -> None:
    """Everything a page loads comes from the package, with a versioned URL,
    under a policy that allows nothing else (no inline style, no other host)."""
    from importlib import resources

    http = desk.http
    login = await http.get("/console/login")
    assert "style-src 'self';" in login.headers["content-security-policy"]
    root = parse(login.text)
    assert not root.find_all("style") and "style=" not in login.text
    loaded = [n.attrs["href"] for n in root.find_all("link")]
    await _log_in(http, "ani@jovapos.test")
    loaded += [n.attrs["src"] for n in parse((await http.get("/console")).text).find_all("script")]
    names = {
        "console.css": "text/css",
        "favicon.svg": "image/svg+xml",
        "live.js": "text/javascript",
        "confirm.js": "text/javascript",
    }
    assert sorted(url.split("?")[0] for url in loaded) == sorted(f"/console/{n}" for n in names)
    for url in loaded:
        name = url.split("?")[0].rsplit("/", 1)[1]
        served = await http.get(url)
        assert served.status_code == 200
        assert served.headers["content-type"].startswith(names[name])
        assert served.content == resources.files("bot").joinpath(f"static/{name}").read_bytes()
        assert "max-age" in served.headers["cache-control"] and "?v=" in url
    css = (await http.get("/console/console.css")).text
    for part in (".btn-primary", ".btn-danger", ".badge", ":focus-visible", "@media"):
        assert part in css
    assert "http" not in css and "@import" not in css


@pytest.mark.slow
async def test_a_staff_member_handles_a_request_in_the_browser(desk: Desk, tmp_path: Path) -> None:
    import os

    from playwright.async_api import async_playwright

    # Artefacts of the run; PRIVACYBOT_SCREENSHOTS=docs/screenshots refreshes the README's.
    artefacts = Path(os.environ.get("PRIVACYBOT_SCREENSHOTS") or tmp_path / "screenshots")
    artefacts.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(desk.server.url + "/console")
            await page.fill('input[name="email"]', "ani@jovapos.test")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.wait_for_url("**/console")
            await page.screenshot(path=str(artefacts / "queue-desktop.png"), full_page=True)
            await page.set_viewport_size(PHONE)
            await page.screenshot(path=str(artefacts / "queue-phone.png"), full_page=True)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1  # the table became cards, not a wide scroll
            await page.set_viewport_size({"width": 1280, "height": 800})
            # The stylesheet is ours and applied (the CSP allows no other).
            assert await page.evaluate("document.styleSheets.length") == 1
            assert (
                await page.evaluate("getComputedStyle(document.querySelector('header')).display")
                == "flex"
            )
            await page.click(f"text={desk.reference}")
            await page.wait_for_url(f"**/console/requests/{desk.reference}")
            assert await page.locator("img.proof").count() == 0  # shown only with a reason
            await page.select_option("#reason-1", "check_identity")
            await page.click("#proof-1 button[type=submit]")
            await page.wait_for_selector("#proof-1 img.proof")
            width = await page.eval_on_selector("img.proof", "img => img.naturalWidth")
            assert width == 32  # the ID proof, decrypted on the fly
            form = page.locator(f'form[action="/console/requests/{desk.reference}/verify"]')
            await form.locator("button").click()
            await page.locator(".msg", has_text="Tersimpan.").wait_for()
            assert page.url.endswith(f"/console/requests/{desk.reference}")
            await page.reload()  # the flash was for that view only
            assert await page.locator(".msg").count() == 0
            await page.locator("#act-complete button.opens-dialog").click()
            dialog = page.locator("#act-complete-dialog")
            await dialog.locator('input[name="sure"]').check()
            await dialog.locator('button[type="submit"]').click()
            await page.locator(".msg", has_text="Tersimpan.").wait_for()
            assert "selesai" in await page.inner_text("main")  # the status, in Indonesian
            await page.screenshot(path=str(artefacts / "request-desktop.png"), full_page=True)
            await page.set_viewport_size(PHONE)
            await page.screenshot(path=str(artefacts / "request-phone.png"), full_page=True)
            for name in ("queue-desktop", "queue-phone", "request-desktop", "request-phone"):
                assert (artefacts / f"{name}.png").stat().st_size > 1000
        finally:
            await browser.close()
    engine = desk.server.core.engine
    from bot.requests.lookup import find_request

    record = await find_request(engine.services.store, desk.reference)
    assert [(e.actor, e.kind) for e in record.events][-3:] == [
        ("staff:ani@jovapos.test", "id_proof_viewed"),
        ("staff:ani@jovapos.test", "verify"),
        ("staff:ani@jovapos.test", "complete"),
    ]
    views = record.attachments[0].views
    assert [(v.viewer, v.purpose, v.reason) for v in views] == [
        ("ani@jovapos.test", "console", "check_identity")
    ]
    db = raw(engine.services.store)
    async with db.execute(
        "SELECT kind FROM notifications WHERE channel = 'terminal' ORDER BY id"
    ) as cur:
        kinds = [r[0] for r in await cur.fetchall()]
    assert kinds[-2:] == ["in_progress", "completed"]  # the notices leave with the actions
    # ...and the completion's email copy leaves through the server's outbox worker.
    for _ in range(100):
        async with db.execute(
            "SELECT status FROM notifications WHERE channel = 'email' AND kind = 'completed'"
        ) as cur:
            if [r[0] for r in await cur.fetchall()] == ["sent"]:
                break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the completion email did not leave")
    mails = sorted((engine.services.settings.data_dir / "mail").glob("*.eml"))
    assert desk.reference in mails[-1].read_text()


@pytest.mark.slow
async def test_staff_take_over_a_telegram_chat_in_the_browser(
    tmp_path: Path, clock: FakeClock
) -> None:
    import os

    from playwright.async_api import async_playwright

    from integrations.telegram import TelegramAdapter
    from tests.fakes.telegram_api import FakeTelegram

    artefacts = Path(os.environ.get("PRIVACYBOT_SCREENSHOTS") or tmp_path / "screenshots")
    artefacts.mkdir(exist_ok=True)
    async with FakeTelegram() as tg:
        settings = telegram_settings(tmp_path / "data", tg)
        async with (
            running_server(settings, lambda core: [TelegramAdapter(core)], clock) as server,
            async_playwright() as p,
        ):
            await add_staff(server.core.engine.services, "ani@jovapos.test", "agent", PASSWORD)

            async def customer(text: str, answered: bool = True) -> None:
                before = len(tg.sent)
                tg.push_update(tg.text_update(777, text))
                if answered:
                    await tg.wait_for_sent(before + 1)

            async def arrives(text: str) -> None:
                for _ in range(200):
                    if any(text in m["text"] for m in tg.sent):
                        return
                    await asyncio.sleep(0.05)
                raise AssertionError(f"{text!r} never reached Telegram")

            browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(server.url + "/console/login")
                await page.fill('input[name="email"]', "ani@jovapos.test")
                await page.fill('input[name="password"]', PASSWORD)
                await page.click('button[type="submit"]')
                await page.wait_for_url("**/console")
                await page.goto(server.url + "/console/inbox")
                assert "Tidak ada percakapan" in await page.inner_text("#inbox")
                for line in ("/start", "2", "Budi Santoso", "staf"):
                    await customer(line)
                # The escalation appears without a reload (Server-Sent Events).
                link = page.locator('#inbox a[href^="/console/chats/"]')
                await link.wait_for(timeout=10_000)
                assert "minta staf" in await page.inner_text("#inbox")
                await page.screenshot(path=str(artefacts / "inbox-desktop.png"), full_page=True)
                await page.set_viewport_size(PHONE)
                await page.screenshot(path=str(artefacts / "inbox-phone.png"), full_page=True)
                await page.set_viewport_size({"width": 1280, "height": 800})
                await link.click()
                await page.wait_for_url("**/console/chats/*")
                assert "Budi Santoso" in await page.inner_text("#draft")
                await page.click('form[action$="/claim"] button')
                await arrives("staf JOVA POS")
                note = page.locator('form[action$="/note"] textarea')
                await note.fill("Pelanggan lama, sopan.")
                quiet = len(tg.sent)
                await customer("Halo, ada orang?", answered=False)
                await page.locator("#transcript", has_text="Halo, ada orang?").wait_for(
                    timeout=10_000
                )
                assert await note.input_value() == "Pelanggan lama, sopan."  # kept while live
                assert len(tg.sent) == quiet  # the bot keeps quiet while staff have the chat
                await page.fill(
                    'form[action$="/reply"] textarea', "Silakan lanjutkan dengan email Anda."
                )
                await page.click('form[action$="/reply"] button')
                await arrives("Silakan lanjutkan dengan email Anda.")
                await page.locator("main", has_text="Balasan terkirim lewat Telegram").wait_for()
                await page.fill('form[action$="/note"] textarea', "Pelanggan lama, sopan.")
                await page.click('form[action$="/note"] button')
                note_line = page.locator("#transcript .line-note", has_text="Pelanggan lama")
                await note_line.wait_for()
                assert "ani@jovapos.test" in await note_line.inner_text()
                assert all("Pelanggan lama" not in m["text"] for m in tg.sent)
                await page.screenshot(path=str(artefacts / "chat-desktop.png"), full_page=True)
                await page.set_viewport_size(PHONE)
                await page.screenshot(path=str(artefacts / "chat-phone.png"), full_page=True)
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"] + 1
                await page.click('form[action$="/release"] button')
                await page.click('dialog[open] button[type="submit"]')  # asked first
                await page.wait_for_url("**/console/inbox")
                await arrives("layanan otomatis")
                await customer("budi@example.com")  # the bot picks up where it stood
                await arrives("budi@example.com")
                for name in ("inbox-desktop", "inbox-phone", "chat-desktop", "chat-phone"):
                    assert (artefacts / f"{name}.png").stat().st_size > 1000
            finally:
                await browser.close()


async def test_staff_take_over_a_telegram_chat_and_give_it_back(
    tmp_path: Path, clock: FakeClock
) -> None:
    import asyncio

    from integrations.telegram import TelegramAdapter
    from tests.fakes.telegram_api import FakeTelegram

    async with FakeTelegram() as tg:
        settings = telegram_settings(tmp_path / "data", tg)
        async with (
            running_server(settings, lambda core: [TelegramAdapter(core)], clock) as server,
            httpx.AsyncClient(base_url=server.url) as http,
        ):
            engine = server.core.engine
            await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)

            async def customer(text: str) -> None:
                before = len(tg.sent)
                tg.push_update(tg.text_update(777, text))
                await tg.wait_for_sent(before + 1)

            async def staff(action: str, page_text: str, **data: str) -> None:
                before = len(tg.sent)
                await http.post(
                    f"/console/chats/{chat_id}/{action}", data={"csrf": _csrf(page_text), **data}
                )
                if action != "note":
                    await tg.wait_for_sent(before + 1)

            for line in ("/start", "2", "Budi Santoso", "staf"):
                await customer(line)
            await _log_in(http, "ani@jovapos.test")
            inbox = await http.get("/console/inbox")
            (chat_id,) = re.findall(r'href="/console/chats/(\d+)"', inbox.text)
            page = await http.get(f"/console/chats/{chat_id}")
            assert "Budi Santoso" in page.text  # the draft's fields and the transcript
            await staff("claim", page.text)
            assert "staf JOVA POS" in tg.sent[-1]["text"]
            quiet = len(tg.sent)
            tg.push_update(tg.text_update(777, "Halo, ada orang?"))
            for _ in range(40):  # until the message is in the transcript
                page = await http.get(f"/console/chats/{chat_id}")
                if "Halo, ada orang?" in page.text:
                    break
                await asyncio.sleep(0.05)
            assert "Halo, ada orang?" in page.text
            assert len(tg.sent) == quiet  # the bot keeps quiet while staff have the chat
            await staff("reply", page.text, text="Silakan lanjutkan dengan email Anda.")
            assert tg.sent[-1]["text"] == "Silakan lanjutkan dengan email Anda."
            page = await http.get(f"/console/chats/{chat_id}")  # once: the route it took
            assert notices(page.text) == [("done", "Balasan terkirim lewat Telegram.")]
            assert notices((await http.get(f"/console/chats/{chat_id}")).text) == []
            await staff("note", page.text, text="Pelanggan lama, sopan.")
            page = await http.get(f"/console/chats/{chat_id}")
            assert ("note", "ani@jovapos.test Catatan internal") in [
                (kind, text.split(" 26 Nov")[0]) for kind, text in transcript(page.text)
            ]
            assert any(
                kind == "note" and text.endswith("Pelanggan lama, sopan.")
                for kind, text in transcript(page.text)
            )
            assert all("Pelanggan lama" not in m["text"] for m in tg.sent)  # notes stay inside
            await staff("reply", page.text, text="", canned="goodbye")
            assert tg.sent[-1]["text"].startswith("Terima kasih. Jika ada pertanyaan lain")
            # Giving the chat back asks first: without the yes, only the question.
            asked = await http.post(
                f"/console/chats/{chat_id}/release", data={"csrf": _csrf(page.text)}
            )
            assert asked.headers["location"].endswith("?confirm=release#confirm")
            await staff("release", page.text, sure="1")
            assert "layanan otomatis" in tg.sent[-1]["text"]
            await customer("budi@example.com")  # the bot picks up where it stood
            assert "budi@example.com" in tg.sent[-1]["text"]  # the code prompt
            async with engine.services.store.transaction(readonly=True) as tx:
                lines = await tx.transcript(int(chat_id))
            trail = [(m.who, m.text) for m in lines if ":" in m.who]
            assert ("event:ani@jovapos.test", "claim") in trail  # who did what, in order
            assert ("staff:ani@jovapos.test", "Silakan lanjutkan dengan email Anda.") in trail
            assert trail[-1] == ("event:ani@jovapos.test", "release")
            # Another staff member cannot act on a chat they do not hold.
            forged = await http.post(
                f"/console/chats/{chat_id}/reply", data={"csrf": "x", "text": "hi"}
            )
            assert forged.status_code == 403


async def test_a_chat_can_be_transferred_to_another_staff_member(desk: Desk) -> None:
    engine = desk.server.core.engine
    chat = Chat(engine, address="rudi")
    await chat.script("staf")
    await add_staff(engine.services, "budi@jovapos.test", "agent", PASSWORD)
    http = desk.http
    await _log_in(http, "ani@jovapos.test")
    inbox = await http.get("/console/inbox")
    (chat_id,) = re.findall(r'href="/console/chats/(\d+)"', inbox.text)
    page = await http.get(f"/console/chats/{chat_id}")
    await http.post(f"/console/chats/{chat_id}/claim", data={"csrf": _csrf(page.text)})
    page = await http.get(f"/console/chats/{chat_id}")
    nobody = await http.post(
        f"/console/chats/{chat_id}/transfer",
        data={"csrf": _csrf(page.text), "to": "tidak.ada@jovapos.test"},
    )
    assert nobody.headers["location"].endswith("?error=no_staff")
    await http.post(
        f"/console/chats/{chat_id}/transfer",
        data={"csrf": _csrf(page.text), "to": "budi@jovapos.test"},
    )
    async with engine.services.store.transaction() as tx:
        held = await tx.get_conversation_by_id(int(chat_id))
    assert held is not None and held.claimed_by == "budi@jovapos.test"
    refused = await http.post(
        f"/console/chats/{chat_id}/reply", data={"csrf": _csrf(page.text), "text": "hai"}
    )
    assert refused.headers["location"].endswith("?error=claim_first")


async def test_only_an_admin_takes_over_a_chat_someone_holds(desk: Desk) -> None:
    """Taking over is the use case's rule, not the console's: an agent cannot
    take a chat another staff member holds, whoever asks; an admin can."""
    from bot.staff import chats as staff_chats

    core = desk.server.core
    await Chat(core.engine, address="rudi").script("staf")
    async with core.services.store.transaction(readonly=True) as tx:
        (chat,) = await tx.staff_queue("nobody")
    await add_staff(core.services, "budi@jovapos.test", "agent", PASSWORD)
    await staff_chats.claim(core.services, core.channels, chat.id, "ani@jovapos.test")
    with pytest.raises(staff_chats.ChatError) as refused:
        await staff_chats.claim(core.services, core.channels, chat.id, "budi@jovapos.test")
    assert (refused.value.key, refused.value.params) == (
        "held_by_other",
        {"holder": "ani@jovapos.test"},
    )
    await staff_chats.claim(core.services, core.channels, chat.id, "boss@jovapos.test")
    async with core.services.store.transaction(readonly=True) as tx:
        held = await tx.get_conversation_by_id(chat.id)
    assert held is not None and held.claimed_by == "boss@jovapos.test"


async def _access_request_with_proof(engine: Engine) -> str:
    """Dewi files an access request on the terminal, ID proof attached; its reference."""
    chat = Chat(engine, address="dewi")
    await chat.script("2", "Dewi Lestari", "dewi@example.com", CODE, "lewati")
    await chat.say("", file_of(PNG))
    await chat.say("1")
    return re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]


async def test_an_access_request_is_completed_with_its_uploaded_data_copy(desk: Desk) -> None:
    import io
    import zipfile

    engine = desk.server.core.engine
    reference = await _access_request_with_proof(engine)
    http = desk.http
    await _log_in(http, "ani@jovapos.test")
    page = await http.get(f"/console/requests/{reference}")
    await http.post(
        f"/console/requests/{reference}/verify", data={"csrf": _csrf(page.text), "sure": "on"}
    )
    page = await http.get(f"/console/requests/{reference}")
    assert 'enctype="multipart/form-data"' in page.text and 'name="export"' in page.text
    # Without the data copy an access request cannot be completed.
    refused = await http.post(
        f"/console/requests/{reference}/complete", data={"csrf": _csrf(page.text), "sure": "on"}
    )
    catalogue = engine.services.catalogue
    assert refused.status_code == 400
    assert notices(refused.text) == [
        ("error", catalogue.text("id", "console.problem.needs_export"))
    ]
    done = await http.post(
        f"/console/requests/{reference}/complete",
        data={"csrf": _csrf(page.text), "sure": "on"},
        files=[
            ("export", ("transaksi.csv", b"outlet,total\nToko Dewi,125000\n", "text/csv")),
            ("export", ("profil.json", b'{"nama": "Dewi"}', "application/json")),
        ],
    )
    assert done.headers["location"] == f"/console/requests/{reference}"
    assert "pb_flash" in done.headers["set-cookie"]
    record = await find_request(engine.services.store, reference)
    assert record.status.value == "completed"
    assert ("staff:ani@jovapos.test", "complete") in [(e.actor, e.kind) for e in record.events]
    async with engine.services.store.transaction(readonly=True) as tx:
        (download,) = [
            n
            for n in await tx.pending_notifications("terminal", "dewi")
            if "download_url" in n.params
        ]
    link = engine.services.keyring.open_text(download.params["download_url"])
    assert "/download/" in link
    # The zip the customer will download holds both files.
    token = link.rsplit("/", 1)[1]
    async with engine.services.store.transaction(readonly=True) as tx:
        row = await tx.get_download(hash_token(token), engine.services.clock())
    names = zipfile.ZipFile(io.BytesIO(engine.services.blobs.get(row.blob_token))).namelist()
    assert {"transaksi.csv", "profil.json"} <= {n.rsplit("/", 1)[-1] for n in names}


async def test_a_delay_is_refused_past_two_years_ahead(desk: Desk) -> None:
    http, reference = desk.http, desk.reference
    await _log_in(http, "ani@jovapos.test")
    page = await http.get(f"/console/requests/{reference}")
    # The fake clock says 26 Nov 2026: the date picker offers what the server accepts.
    picker = parse(page.text).find("input", name="until")
    assert (picker.attrs["min"], picker.attrs["max"]) == ("2026-11-26", "2028-11-26")
    assert picker.attrs["type"] == "date" and "required" in picker.attrs
    for until in ("9999-12-31", "2029-11-26", "2028-11-27"):
        refused = await http.post(
            f"/console/requests/{reference}/delay",
            data={"csrf": _csrf(page.text), "sure": "on", "reason": "Arsip", "until": until},
        )
        assert refused.status_code == 400, until
        assert "paling lambat dua tahun ke depan" in refused.text, until
        # The form comes back with what was typed.
        again = parse(refused.text).find("form", action=f"/console/requests/{reference}/delay")
        assert again.find("input", name="until").attrs["value"] == until
        assert again.find("textarea", name="reason").text() == "Arsip"
    engine = desk.server.core.engine
    assert "delay" not in [
        e.kind for e in (await find_request(engine.services.store, reference)).events
    ]
    accepted = await http.post(
        f"/console/requests/{reference}/delay",
        data={"csrf": _csrf(page.text), "sure": "on", "reason": "Arsip", "until": "2027-11-26"},
    )
    assert accepted.headers["location"] == f"/console/requests/{reference}"
    record = await find_request(engine.services.store, reference)
    assert record.due_date.isoformat() == "2027-11-26"


async def test_a_data_copy_file_over_50_mb_has_its_own_message(desk: Desk) -> None:

    from bot.requests.exports import MAX_UPLOADED_EXPORT_BYTES

    engine = desk.server.core.engine
    reference = await _access_request_with_proof(engine)
    http = desk.http
    await _log_in(http, "ani@jovapos.test")
    page = await http.get(f"/console/requests/{reference}")
    verified = await http.post(
        f"/console/requests/{reference}/verify", data={"csrf": _csrf(page.text), "sure": "on"}
    )
    await http.get(verified.headers["location"])  # as a browser does: its flash is read
    for lang, words in (("id", "lebih besar dari 50 MB"), ("en", "larger than 50 MB")):
        await http.get("/console", params={"lang": lang})
        refused = await http.post(
            f"/console/requests/{reference}/complete",
            data={"csrf": _csrf(page.text), "sure": "on"},
            files=[
                ("export", ("profil.json", b"{}", "application/json")),
                ("export", ("transaksi.csv", b"0" * (MAX_UPLOADED_EXPORT_BYTES + 1), "text/csv")),
            ],
            timeout=60,
        )
        assert refused.status_code == 400
        text = engine.services.catalogue.text(lang, "console.problem.export_too_large")
        assert notices(refused.text) == [("error", text)] and words in text
        assert (
            engine.services.catalogue.text(lang, "console.problem.not_possible") not in refused.text
        )
        assert "transaksi.csv" not in refused.text  # the exception's own words stay out
    assert (await find_request(engine.services.store, reference)).status.value == "in_progress"


async def test_a_new_date_that_is_no_date_has_its_own_message(desk: Desk) -> None:

    engine, http, reference = desk.server.core.engine, desk.http, desk.reference
    await _log_in(http, "ani@jovapos.test")
    page = await http.get(f"/console/requests/{reference}")
    for lang, words in (("id", "Tanggal baru tidak valid"), ("en", "not a valid date")):
        await http.get("/console", params={"lang": lang})
        for until in ("2027-02-30", "2027-13-01", "10000-01-01", "besok"):
            refused = await http.post(
                f"/console/requests/{reference}/delay",
                data={"csrf": _csrf(page.text), "sure": "on", "reason": "Arsip", "until": until},
            )
            assert refused.status_code == 400, until
            text = engine.services.catalogue.text(lang, "console.problem.bad_date")
            assert notices(refused.text) == [("error", text)] and words in text
            assert (
                engine.services.catalogue.text(lang, "console.problem.not_possible")
                not in refused.text
            )
    assert "delay" not in [
        e.kind for e in (await find_request(engine.services.store, reference)).events
    ]


async def test_a_refused_act_is_worded_in_the_staff_members_language(desk: Desk) -> None:
    """A blank reason or message, or a delay without its date, is refused by
    key: each staff member reads why in their own language, and the
    Indonesian page carries none of the command line's English."""
    engine, reference = desk.server.core.engine, desk.reference
    catalogue = engine.services.catalogue
    attempts = [
        ("reject", {"reason": "   "}, "reason_missing"),
        ("delay", {"reason": "Arsip lama", "until": ""}, "until_missing"),
        ("delay", {"reason": " ", "until": "2027-06-01"}, "reason_missing"),
        ("ask", {"message": "\n"}, "message_missing"),
    ]
    ani = desk.http
    boss = httpx.AsyncClient(base_url=desk.server.url)
    try:
        await _log_in(ani, "ani@jovapos.test")  # Indonesian, the console's default
        await _log_in(boss, "boss@jovapos.test")
        await boss.get("/console", params={"lang": "en"})  # reads the console in English
        for http, lang, other in ((ani, "id", "en"), (boss, "en", "id")):
            for action, form, key in attempts:
                page = await http.get(f"/console/requests/{reference}")
                refused = await http.post(
                    f"/console/requests/{reference}/{action}",
                    data={"csrf": _csrf(page.text), "sure": "on", **form},
                )
                assert refused.status_code == 400, (lang, action)
                shown = refused.text
                text = catalogue.text(lang, f"console.problem.{key}")
                assert notices(shown) == [("error", text)], (lang, key)
                read = parse(shown).text()
                assert catalogue.text(other, f"console.problem.{key}") not in read
                assert catalogue.text(lang, "console.problem.not_possible") not in shown
                if lang == "id":
                    for english in (
                        catalogue.refusal("en", key, {}),
                        "--reason",
                        "--message",
                        "--until",
                        "must not be empty",
                        "needs",
                    ):
                        assert english not in shown, (key, english)
    finally:
        await boss.aclose()
    record = await find_request(engine.services.store, reference)
    assert [e.actor for e in record.events] == ["customer"] * len(record.events)


async def test_admins_manage_staff_accounts_and_see_settings_without_secrets(desk: Desk) -> None:
    http = desk.http
    await _log_in(http, "boss@jovapos.test")
    page = await http.get("/console/staff")
    added = await http.post(
        "/console/staff/add",
        data={"csrf": _csrf(page.text), "email": "Rudi@JovaPOS.test", "role": "agent"},
    )
    assert added.status_code == 200
    password = re.search(r'<code id="password"[^>]*>([^<]+)</code>', added.text).group(1)  # type: ignore[union-attr]
    assert added.headers["cache-control"] == "no-store"
    again = await http.post(
        "/console/staff/add",
        data={"csrf": _csrf(page.text), "email": "rudi@jovapos.test", "role": "agent"},
    )
    assert again.status_code == 400 and "rudi@jovapos.test sudah memiliki akun staf" in again.text
    # The new agent logs in with the one-time password, and must change it first.
    async with httpx.AsyncClient(base_url=desk.server.url) as rudi:

        async def first_login(one_time: str, chosen: str) -> None:
            assert (await _log_in(rudi, "rudi@jovapos.test", one_time)).status_code == 303
            assert (await rudi.get("/console")).headers["location"] == "/console/password"
            form = await rudi.get("/console/password")
            changed = await rudi.post(
                "/console/password",
                data={
                    "csrf": _csrf(form.text),
                    "current": one_time,
                    "new": chosen,
                    "again": chosen,
                },
            )
            assert changed.status_code == 303

        await first_login(password, "rudi-punya-kata-sandi")
        assert (await rudi.get("/console")).status_code == 200
        assert (await rudi.get("/console/settings")).status_code == 403  # agents are not admins

        async def change(email: str, action: str) -> httpx.Response:
            return await http.post(
                "/console/staff/change",
                data={
                    "csrf": _csrf(page.text),
                    "email": email,
                    "action": action,
                    "confirmed": "yes",
                },
            )

        assert (await change("rudi@jovapos.test", "disable")).status_code == 303
        # Disabled: the session ends at once and the password no longer opens the console.
        assert (await rudi.get("/console")).status_code == 303
        assert (
            await _log_in(rudi, "rudi@jovapos.test", "rudi-punya-kata-sandi")
        ).status_code == 401
        await change("rudi@jovapos.test", "enable")
        reset = await change("rudi@jovapos.test", "reset_password")
        fresh = re.search(r'<code id="password"[^>]*>([^<]+)</code>', reset.text).group(1)  # type: ignore[union-attr]
        assert (
            await _log_in(rudi, "rudi@jovapos.test", "rudi-punya-kata-sandi")
        ).status_code == 401
        await first_login(fresh, "rudi-kata-sandi-kedua")
        await change("rudi@jovapos.test", "make_admin")
        assert (await rudi.get("/console/settings")).status_code == 200
    own = await change("boss@jovapos.test", "make_agent")
    assert own.status_code == 400 and "tidak dapat mengubah akun Anda sendiri" in own.text
    await change("rudi@jovapos.test", "make_agent")
    page = await http.get("/console/staff")
    catalogue = desk.server.core.services.catalogue

    def said(key: str, **params: str) -> str:
        return catalogue.text("id", f"console.{key}").format(**params)

    history = [row[1:4] for row in rows(page.text, "audit")]  # who, what, which account
    by_boss = [row for row in rows(page.text, "audit") if row[1] == "boss@jovapos.test"]
    assert {row[4] for row in by_boss} == {"127.0.0.1"}  # and from where
    agent = said("role.agent")
    for what in ("disable", "enable", "reset_password", "make_admin", "make_agent"):
        assert ["boss@jovapos.test", said(f"audit.{what}"), "rudi@jovapos.test"] in history
    assert ["boss@jovapos.test", said("audit.add", role=agent), "rudi@jovapos.test"] in history
    assert password not in page.text and fresh not in page.text
    settings = await http.get("/console/settings")
    shown = facts(settings.text, "settings")
    assert shown["PRIVACYBOT_SUPPORT_HOURS"] == "mon-fri 09:00-17:00"
    assert shown["PRIVACYBOT_SECRET_KEY"] == said("setting.unset") == "(belum diatur)"


async def test_the_last_admin_stays_an_admin(tmp_path: Path, clock: FakeClock) -> None:
    from bot.app import open_engine
    from bot.staff.accounts import StaffError, change_staff

    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"))
    async with open_engine(settings, clock=clock) as engine:
        await add_staff(engine.services, "boss@jovapos.test", "admin", PASSWORD)
        await add_staff(engine.services, "deputy@jovapos.test", "admin", PASSWORD)
        await change_staff(
            engine.services, "boss@jovapos.test", "deputy@jovapos.test", "make_agent"
        )
        for action in ("disable", "make_agent"):  # e.g. from a script acting as nobody
            with pytest.raises(StaffError, match="last_admin"):
                await change_staff(engine.services, "ops-script", "boss@jovapos.test", action)
        await change_staff(
            engine.services, "boss@jovapos.test", "deputy@jovapos.test", "make_admin"
        )
        await change_staff(engine.services, "boss@jovapos.test", "deputy@jovapos.test", "disable")
        # A disabled admin is no admin to keep: it may be made an agent.
        await change_staff(engine.services, "ops-script", "deputy@jovapos.test", "make_agent")
        with pytest.raises(StaffError, match="staff_own"):
            await change_staff(engine.services, "boss@jovapos.test", "BOSS@jovapos.test", "disable")
        with pytest.raises(StaffError, match="staff_action"):
            await change_staff(
                engine.services, "boss@jovapos.test", "deputy@jovapos.test", "delete"
            )


async def test_staff_account_refusals_are_shown_in_the_readers_language(desk: Desk) -> None:
    """The admin page shows why an account change was refused in the catalogue's
    words, in the reader's language; never the (English) error of bot.staff.accounts."""

    from bot.staff.accounts import StaffError, change_staff

    engine, http = desk.server.core.engine, desk.http
    await _log_in(http, "boss@jovapos.test")
    csrf = _csrf((await http.get("/console/staff")).text)
    attempts = [
        ("add", {"email": "ani@jovapos.test", "role": "agent"}, "staff_exists"),
        ("add", {"email": "rudi@jovapos.test", "role": "owner"}, "staff_role"),
        ("add", {"email": "rudi", "role": "agent"}, "staff_email"),
        (
            "change",
            {"email": "boss@jovapos.test", "action": "disable", "confirmed": "yes"},
            "staff_own",
        ),
        (
            "change",
            {"email": "nobody@jovapos.test", "action": "disable", "confirmed": "yes"},
            "staff_unknown",
        ),
        ("change", {"email": "ani@jovapos.test", "action": "delete"}, "staff_action"),
    ]
    params = {"staff_exists": {"email": "ani@jovapos.test"}}
    params["staff_unknown"] = {"email": "nobody@jovapos.test"}
    for lang in ("id", "en"):
        await http.get("/console", params={"lang": lang})
        for path, form, key in attempts:
            answer = await http.post(f"/console/staff/{path}", data={"csrf": csrf, **form})
            text = engine.services.catalogue.text(lang, f"console.problem.{key}")
            text = text.format(**params.get(key, {}))
            assert answer.status_code == 400, (lang, key)
            assert notices(answer.text) == [("error", text)], (lang, key)
            for english in ("already has an account", "must be one of", "unknown action"):
                assert english not in answer.text, (lang, key)
    # Every cause, those the console cannot reach too, has its text in both languages.
    with pytest.raises(StaffError) as short:
        await add_staff(engine.services, "rudi@jovapos.test", "agent", "pendek")
    await change_staff(engine.services, "boss@jovapos.test", "admin@localhost", "disable")
    with pytest.raises(StaffError) as last:  # e.g. a script acting as nobody
        await change_staff(engine.services, "ops-script", "boss@jovapos.test", "make_agent")
    causes = [short.value, last.value]
    assert [c.key for c in causes] == ["staff_password", "last_admin"]
    for cause in causes:
        for lang in ("id", "en"):
            shown = engine.services.catalogue.text(lang, f"console.problem.{cause.key}")
            assert "{" not in shown.format(**cause.params)


async def test_chats_of_a_disabled_agent_go_back_to_the_queue_and_admins_take_over(
    desk: Desk,
) -> None:
    engine = desk.server.core.engine
    await Chat(engine, address="rudi").script("staf")
    async with engine.services.store.transaction(readonly=True) as tx:
        (chat,) = await tx.staff_queue("nobody")
    ani, boss = desk.http, httpx.AsyncClient(base_url=desk.server.url)
    try:
        await _log_in(ani, "ani@jovapos.test")
        page = await ani.get(f"/console/chats/{chat.id}")
        await ani.post(f"/console/chats/{chat.id}/claim", data={"csrf": _csrf(page.text)})
        await _log_in(boss, "boss@jovapos.test")
        inbox = await boss.get("/console/inbox")
        assert f"/console/chats/{chat.id}" in inbox.text and "ani@jovapos.test" in inbox.text
        held = await boss.get(f"/console/chats/{chat.id}")
        assert "Ambil alih dari staf ini" in held.text  # admins may take it over
        staff = await boss.get("/console/staff")

        async def change(email: str, action: str) -> None:
            answer = await boss.post(
                "/console/staff/change",
                data={
                    "csrf": _csrf(staff.text),
                    "email": email,
                    "action": action,
                    "confirmed": "yes",
                },
            )
            assert answer.status_code == 303, answer.text

        await change("ani@jovapos.test", "disable")
        async with engine.services.store.transaction(readonly=True) as tx:
            back = await tx.get_conversation_by_id(chat.id)
        assert back is not None and back.claimed_by is None and back.waiting_staff_since
        await boss.post(f"/console/chats/{chat.id}/claim", data={"csrf": _csrf(held.text)})
        refused = await boss.post(
            f"/console/chats/{chat.id}/transfer",
            data={"csrf": _csrf(held.text), "to": "ani@jovapos.test"},
        )
        assert refused.headers["location"].endswith("?error=no_staff")
        await change("ani@jovapos.test", "enable")
        await boss.post(
            f"/console/chats/{chat.id}/transfer",
            data={"csrf": _csrf(held.text), "to": "ani@jovapos.test"},
        )
        await boss.post(
            f"/console/chats/{chat.id}/claim", data={"csrf": _csrf(held.text), "sure": "1"}
        )
        async with engine.services.store.transaction(readonly=True) as tx:
            lines = await tx.transcript(chat.id)
        trail = [(m.who, m.text) for m in lines if m.who.startswith("event:")]
        assert trail == [
            ("event:ani@jovapos.test", "claim"),
            ("event:boss@jovapos.test", "returned_to_queue ani@jovapos.test"),
            ("event:boss@jovapos.test", "claim"),
            ("event:boss@jovapos.test", "transfer -> ani@jovapos.test"),
            ("event:boss@jovapos.test", "take_over <- ani@jovapos.test"),
        ]
    finally:
        await boss.aclose()


async def test_the_settings_page_shows_no_secret(tmp_path: Path, clock: FakeClock) -> None:
    import base64

    secrets = {
        "secret_key": base64.b64encode(b"k" * 32).decode(),
        "twilio_account_sid": "AC" + "1" * 32,
        "twilio_auth_token": "tok-twilio-very-secret",
        "telegram_bot_token": "123456:tok-telegram-very-secret",
        "smtp_url": "smtp://mailer:pw-smtp-very-secret@mail.example:587",
        "accounts_url": "https://backoffice:pw-accounts-very-secret@pos.example/accounts",
        "accounts_token": "tok-accounts-very-secret",
    }
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), public_url="http://127.0.0.1", **secrets
    )
    async with (
        running_server(settings, clock=clock) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        await add_staff(server.core.engine.services, "boss@jovapos.test", "admin", PASSWORD)
        await _log_in(http, "boss@jovapos.test")
        page = (await http.get("/console/settings")).text
    shown = facts(page, "settings")
    assert shown["TWILIO_AUTH_TOKEN"] == "(sudah diatur)"  # secrets: only whether they are set
    assert shown["PRIVACYBOT_ACCOUNTS_URL"] == "https://***@pos.example/accounts"
    assert "https://***@pos.example/accounts" in page
    assert "very-secret" not in page and secrets["secret_key"] not in page
    assert "AC" + "1" * 32 in page  # an account SID is an identifier, not a secret


async def test_staff_do_not_see_a_customers_one_time_upload_link(desk: Desk) -> None:
    from bot.domain.models import Channel

    engine = desk.server.core.engine
    sms = Chat(engine, address="+6281377700011", channel=Channel.SMS)
    await sms.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati")
    assert "/upload/" in sms.text  # the customer got the link
    await sms.say("staf")
    await _log_in(desk.http, "ani@jovapos.test")
    async with engine.services.store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation(Channel.SMS, "+6281377700011")
    assert conversation is not None
    page = await desk.http.get(f"/console/chats/{conversation.id}")
    assert "/upload/" not in page.text and "tautan sekali pakai" in page.text


async def test_text_that_looks_sealed_is_only_text(desk: Desk) -> None:
    """Customers and staff may type anything, "sealed:v1:..." included: it is
    shown as typed and breaks neither the console, a notice nor a data copy."""
    import io
    import zipfile

    from bot.delivery.notifications import render_text
    from bot.requests import actions
    from bot.requests.exports import ExportFile, complete_access

    engine = desk.server.core.engine
    chat = Chat(engine, address="dewi")
    await chat.script("2", "Dewi Lestari", "dewi@example.com", CODE, "sealed:v1:hello")
    await chat.say("", file_of(PNG))
    await chat.say("1")
    ref = re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
    await chat.script("staf", "sealed:v1:AAAA")
    async with engine.services.store.transaction(readonly=True) as tx:
        (waiting,) = await tx.staff_queue("nobody")
    await _log_in(desk.http, "ani@jovapos.test")
    page = await desk.http.get(f"/console/chats/{waiting.id}")
    assert "sealed:v1:AAAA" in page.text and "tautan sekali pakai" not in page.text
    await actions.ask(engine.services, ref, "staff:ani", "sealed:v1:x")
    async with engine.services.store.transaction(readonly=True) as tx:
        pending = await tx.pending_notifications("terminal", "dewi")
    asked = [render_text(engine.services.catalogue, engine.services.keyring, n) for n in pending]
    assert any("sealed:v1:x" in text for text in asked)
    await actions.verify(engine.services, ref, "staff:ani")
    link = await complete_access(engine.services, ref, "staff:ani", [ExportFile("a.csv", b"x")])
    async with engine.services.store.transaction(readonly=True) as tx:
        row = await tx.get_download(hash_token(link.rsplit("/", 1)[1]), engine.services.clock())
    assert row is not None
    copy = zipfile.ZipFile(io.BytesIO(engine.services.blobs.get(row.blob_token)))
    assert "sealed:v1:hello" in copy.read("privacybot/data.json").decode()


async def test_staff_never_see_an_email_code_the_customer_typed(desk: Desk) -> None:
    """The code mail says never to share the code with staff: typed at a code
    step (a request's or a status check's) it is kept masked, so neither the
    console, a data copy nor the database file holds it."""
    import io
    import zipfile

    from bot.requests import actions
    from bot.requests.exports import ExportFile, complete_access

    engine = desk.server.core.engine
    box = mailbox_of(engine)
    chat = Chat(engine, address="rina")
    await chat.script("2", "Rina Wati", "rina@example.com")
    request_code = box.latest_code("rina@example.com")
    await chat.say(f"{request_code[:3]} {request_code[3:]}")  # typed with a space
    assert "code.verified" in chat.keys
    await chat.say("sekadar ingin tahu")
    await chat.say("", file_of(PNG))
    await chat.say("1")
    ref = re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
    # A status check of someone else's request is proved by a code too.
    await chat.script(desk.reference, "siti@example.com")
    status_code = box.latest_code("siti@example.com")
    await chat.say(status_code)
    assert "status.answer" in chat.keys  # the real code was checked
    await chat.say("staf")
    codes = [request_code, status_code]

    await _log_in(desk.http, "ani@jovapos.test")
    async with engine.services.store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation(chat.channel, "rina")
    assert conversation is not None
    page = await desk.http.get(f"/console/chats/{conversation.id}")
    assert "••• •••" in page.text and "••••••" in page.text
    for code in codes:
        assert code not in page.text and f"{code[:3]} {code[3:]}" not in page.text

    await actions.verify(engine.services, ref, "staff:ani")
    link = await complete_access(engine.services, ref, "staff:ani", [ExportFile("a.csv", b"x")])
    async with engine.services.store.transaction(readonly=True) as tx:
        row = await tx.get_download(hash_token(link.rsplit("/", 1)[1]), engine.services.clock())
    assert row is not None
    copy = zipfile.ZipFile(io.BytesIO(engine.services.blobs.get(row.blob_token)))
    data = copy.read("privacybot/data.json").decode()
    assert "sekadar ingin tahu" in data
    assert request_code not in data and request_code[3:] not in data

    database = engine.services.settings.database_path
    lines = dump(database)  # every row of every table, on either backend
    for code in codes:
        assert not [line for line in lines if code in line or f"{code[:3]} {code[3:]}" in line]
    files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]
    assert files or CURRENT  # SQLite: the database file and its WAL, byte by byte too
    for path in files:
        raw = path.read_bytes()
        for code in codes:
            for shown in (code, f"{code[:3]} {code[3:]}"):
                assert shown.encode() not in raw, (path.name, shown)


async def test_staff_replies_reach_a_terminal_customer_once(desk: Desk) -> None:
    """The terminal has no push: what staff write waits, as notifications do,
    and the customer's next `privacybot chat` (or the open one, before its next
    prompt) shows it, once; the console says it is queued, not failed."""
    import io

    from bot.cli import show_pending_notifications
    from bot.domain.models import Channel
    from bot.staff import chats as staff_chats
    from integrations.terminal import TerminalChannel

    core = desk.server.core
    engine = core.engine
    customer = Chat(engine, address="kasir-7")
    await customer.say("staf")
    async with engine.services.store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation(Channel.TERMINAL, "kasir-7")
    assert conversation is not None and conversation.state == "staff"
    chat_id = conversation.id
    http = desk.http
    await _log_in(http, "ani@jovapos.test")
    page = await http.get(f"/console/chats/{chat_id}")
    await http.post(f"/console/chats/{chat_id}/claim", data={"csrf": _csrf(page.text)})
    page = await http.get(f"/console/chats/{chat_id}")
    sent = await http.post(
        f"/console/chats/{chat_id}/reply",
        data={"csrf": _csrf(page.text), "text": "Halo Kak, permintaan Anda sedang kami cek."},
    )
    assert sent.status_code == 303 and "error" not in sent.headers["location"]
    page = await http.get(sent.headers["location"])
    assert "try again later" not in page.text and "belum terkirim" not in page.text
    queued = engine.services.catalogue.text("id", "console.queued")
    assert queued in page.text

    def session(stdin: io.StringIO) -> tuple[TerminalChannel, io.StringIO]:
        out = io.StringIO()
        channel = TerminalChannel(
            engine,
            "kasir-7",
            stdin,
            out,
            interactive=False,
            language="id",
            before_prompt=lambda: show_pending_notifications(engine.services, channel),
        )
        return channel, out

    channel, out = session(io.StringIO("/keluar\n"))  # the next `privacybot chat`
    await channel.run()
    assert out.getvalue().count("sedang kami cek") == 1
    assert "Halo, saya staf JOVA POS" in out.getvalue()  # the staff.joined notice too
    page = await http.get(f"/console/chats/{chat_id}")
    assert queued not in page.text  # shown now

    loop = asyncio.get_running_loop()

    class Typing(io.StringIO):
        """A customer still in the chat: staff answer while it waits for a line."""

        def readline(self, size: int | None = -1) -> str:
            if self.tell() == 0:
                asyncio.run_coroutine_threadsafe(
                    staff_chats.reply(
                        core.services,
                        core.channels,
                        chat_id,
                        "ani@jovapos.test",
                        "Sudah selesai, Kak.",
                    ),
                    loop,
                ).result(timeout=10)
            return super().readline()

    channel, out = session(Typing("terima kasih\n/keluar\n"))
    await channel.run()
    shown = out.getvalue()
    assert shown.count("Sudah selesai, Kak.") == 1 and "sedang kami cek" not in shown

    channel, out = session(io.StringIO("/keluar\n"))
    await channel.run()
    assert out.getvalue() == ""  # each once


async def test_a_reply_to_a_terminal_customer_is_shown_as_queued_not_sent(desk: Desk) -> None:
    """The terminal has no push: after a reply the console says it waits for the
    customer, in the reader's language, not that it went "via Terminal"."""

    from bot.domain.models import Channel

    engine, http = desk.server.core.engine, desk.http
    await Chat(engine, address="kasir-9").say("staf")
    async with engine.services.store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation(Channel.TERMINAL, "kasir-9")
    assert conversation is not None
    await _log_in(http, "ani@jovapos.test")
    page = await http.get(f"/console/chats/{conversation.id}")
    await http.post(f"/console/chats/{conversation.id}/claim", data={"csrf": _csrf(page.text)})
    for lang in ("id", "en"):
        await http.get("/console", params={"lang": lang})
        sent = await http.post(
            f"/console/chats/{conversation.id}/reply",
            data={"csrf": _csrf(page.text), "text": "Permintaan Anda sedang kami cek."},
        )
        assert sent.status_code == 303
        assert sent.headers["location"] == f"/console/chats/{conversation.id}"
        shown = await http.get(sent.headers["location"])
        queued = engine.services.catalogue.text(lang, "console.queued")
        assert notices(shown.text) == [("info", queued)], lang
        said = engine.services.catalogue.text(lang, "console.sent_by").split("{")[0]
        assert said not in shown.text, lang
        assert notices((await http.get(sent.headers["location"])).text) == [], lang


PHISHING = "Akun Anda diblokir. Masuk lagi di https://jova-pos.example/login"


async def test_the_url_cannot_put_its_own_words_on_a_console_page(desk: Desk) -> None:
    from bot.domain.models import Channel

    engine, http = desk.server.core.engine, desk.http
    async with engine.services.store.transaction(readonly=True) as tx:
        siti = await tx.get_conversation(Channel.TERMINAL, "siti")
    assert siti is not None
    await _log_in(http, "ani@jovapos.test")
    for path in (f"/console/requests/{desk.reference}", f"/console/chats/{siti.id}"):
        for query in (
            {"error": PHISHING},
            {"sent": PHISHING},
            {"error": "title"},
            {"sent": "sms"},  # success is told by a one-time flash, never by the URL
            {"done": "1"},
        ):
            page = await http.get(path, params=query)
            assert page.status_code == 200
            assert "jova-pos.example" not in page.text and "diblokir" not in page.text
            assert 'class="msg' not in page.text  # unknown keys show nothing at all
    # A refusal names its key; the page shows that key's text, in the reader's language.
    refused = await http.post(f"/console/chats/{siti.id}/note", data={"csrf": "x"})
    assert refused.status_code == 403
    page = await http.get(f"/console/chats/{siti.id}")
    refused = await http.post(
        f"/console/chats/{siti.id}/note", data={"csrf": _csrf(page.text), "text": "catatan"}
    )
    assert refused.headers["location"] == f"/console/chats/{siti.id}?error=claim_first"
    for lang in ("id", "en"):
        await http.get("/console", params={"lang": lang})
        page = await http.get(refused.headers["location"])
        text = engine.services.catalogue.text(lang, "console.problem.claim_first")
        assert notices(page.text) == [("error", text)]
    # A flash cookie that this session did not get shows nothing either.
    path = f"/console/chats/{siti.id}"
    for forged in ("done", "done-0123456789abcdef0123456789abcdef", f"sent.sms-{'0' * 32}"):
        http.cookies.set("pb_flash", forged, path="/console")
        assert notices((await http.get(path)).text) == [], forged
    async with httpx.AsyncClient(base_url=desk.server.url) as boss:
        await _log_in(boss, "boss@jovapos.test")
        page = await boss.get(f"/console/requests/{desk.reference}")
        given = await boss.post(
            f"/console/requests/{desk.reference}/ask",
            data={"csrf": _csrf(page.text), "message": "Mohon kirim ulang", "sure": "on"},
        )
        flash = given.cookies["pb_flash"]
    http.cookies.set("pb_flash", flash, path="/console")  # another session's flash
    assert notices((await http.get(path)).text) == []


async def test_ids_out_of_range_are_not_found(desk: Desk) -> None:
    http = desk.http
    await _log_in(http, "ani@jovapos.test")
    csrf = _csrf((await http.get("/console")).text)
    for number in ("9" * 19, "9223372036854775808", "1" + "0" * 60, "123456789012345678"):
        assert (await http.get(f"/console/chats/{number}")).status_code == 404
        for action in ("claim", "reply", "note"):
            answer = await http.post(
                f"/console/chats/{number}/{action}", data={"csrf": csrf, "text": "x"}
            )
            assert answer.status_code in (303, 404)
            if answer.status_code == 303:  # in range but absent: the page says so
                assert answer.headers["location"].endswith("?error=no_chat")
        for path in (f"/console/requests/{number}", f"/console/requests/ACC-{number}"):
            assert (await http.get(path)).status_code == 404
            assert (await http.post(f"{path}/verify", data={"csrf": csrf})).status_code == 404


async def test_completing_a_deletion_in_the_console_forgets_its_customer_at_once(
    desk: Desk,
) -> None:
    from tests.forgetting import assert_forgotten, deletion_in_progress

    engine = desk.server.core.engine
    reference = await deletion_in_progress(engine)
    await _log_in(desk.http, "ani@jovapos.test")
    page = await desk.http.get(f"/console/requests/{reference}")
    done = await desk.http.post(
        f"/console/requests/{reference}/complete", data={"csrf": _csrf(page.text), "sure": "on"}
    )
    assert done.headers["location"] == f"/console/requests/{reference}"
    assert_forgotten(engine.services.settings.data_dir, reference)  # no housekeeping ran
