"""The inbox and a chat in a real browser (Playwright driving Debian's
Chromium), at desktop and phone width: Ctrl+Enter sends, picking a ready
answer fills the reply box, a file the customer sent shows as a file chip,
giving the chat back asks in a dialog, one pane at a time on a phone."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.settings import load_settings
from bot.staff.accounts import add_staff
from tests.conftest import PNG, Chat, FakeClock, file_of
from tests.conversation.test_upload_page import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.server import running_server

PASSWORD = "kata-sandi-yang-panjang"
DESKTOP = {"width": 1280, "height": 800}


@pytest.mark.slow
async def test_an_agent_answers_a_chat_in_the_browser(tmp_path: Path, clock: FakeClock) -> None:
    from playwright.async_api import async_playwright

    shots = Path(os.environ.get("PRIVACYBOT_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), public_url="http://127.0.0.1"
    )
    async with running_server(settings, clock=clock) as server, async_playwright() as p:
        engine = server.core.engine
        await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)
        await add_staff(engine.services, "budi@jovapos.test", "agent", PASSWORD)
        lina = Chat(engine, address="lina-kasir")
        await lina.script("2", "Lina Marlina", "lina@example.com", "staf")
        await Chat(engine, address="joko-toko").script("staf")
        clock.advance(minutes=7)
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport=DESKTOP)
            # The browser's notifications, recorded instead of shown.
            await context.add_init_script(
                "window.shown = []; window.Notification = class {"
                " constructor(title) { window.shown.push(title); }"
                " static get permission() { return 'granted'; }"
                " static requestPermission() { return Promise.resolve('granted'); } };"
            )
            page = await context.new_page()
            await page.goto(server.url + "/console/login")
            await page.fill('input[name="email"]', "ani@jovapos.test")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.wait_for_url("**/console")
            await page.goto(server.url + "/console/inbox")
            assert await page.title() == "(0/2) Percakapan untuk staf · Konsol Privasi JOVA POS"
            rows = page.locator("#inbox .chat-row")
            assert await rows.count() == 2
            lina_row = rows.filter(has_text="Lina Marlina")
            assert "(0 j 7 mnt)" in await lina_row.inner_text()
            await page.screenshot(path=str(shots / "inbox-desktop.png"))
            # Sound and notification: off until the agent turns them on, then remembered.
            toggle = page.locator("#alerts-toggle")
            assert await toggle.is_visible() and not await toggle.is_checked()
            await toggle.check()
            await page.reload()
            assert await page.locator("#alerts-toggle").is_checked()
            await Chat(engine, address="sari-toko").script("staf")  # a new hand-over
            for _ in range(200):  # the live update brings the new count to the title
                if (await page.title()).startswith("(0/3) "):
                    break
                await asyncio.sleep(0.05)
            assert (await page.title()).startswith("(0/3) ")
            assert await page.evaluate("window.shown") == ["Ada percakapan untuk staf"]
            assert await rows.count() == 3
            await page.set_viewport_size(PHONE)
            # One pane at a time, and the waiting time is never broken mid-phrase.
            assert await page.locator(".pane-chat").is_hidden()
            for part in await page.locator("#inbox .row-status .nowrap").all():
                assert await part.evaluate("e => e.getClientRects().length") == 1
            await page.screenshot(path=str(shots / "inbox-phone.png"), full_page=True)
            await page.set_viewport_size(DESKTOP)

            await lina_row.locator("a").click()
            await page.wait_for_url("**/console/chats/*")
            await page.click('form[action$="/claim"] button')
            await page.locator(".msg", has_text="sekarang Anda pegang").wait_for()
            # A picture the customer sends while staff hold the chat shows up live.
            await lina.say("", file_of(PNG))
            await page.locator("#transcript a.file-chip.is-image").wait_for(timeout=10_000)
            assert await page.locator("#transcript img").count() == 0  # not opened: not drawn
            # Picking a ready answer puts it, whole, in the reply box.
            await page.click(".answers summary")
            first = page.locator(".answer-list a").first
            answer = await first.inner_text()
            assert answer.startswith("Halo, terima kasih sudah menghubungi")
            await first.click()
            box = page.locator("#reply-text")
            assert await box.input_value() == answer
            await box.fill(answer + " Saya Ani.")
            await box.press("Control+Enter")
            await page.locator(".msg", has_text="Menunggu pelanggan").wait_for()
            staff_line = page.locator("#transcript .line-staff", has_text="Saya Ani.")
            assert "menunggu dibuka pelanggan" in await staff_line.inner_text()
            await page.locator("#reply-text").fill("Dan Cmd+Enter juga mengirim.")
            await page.locator("#reply-text").press("Meta+Enter")
            await page.locator("#transcript .line-staff", has_text="Cmd+Enter juga").wait_for()
            assert await page.locator("#transcript-title").count() == 1
            # The transfer picker lists active colleagues only, never oneself.
            options = await page.locator("#transfer-to option").all_inner_texts()
            assert "budi@jovapos.test" in options and "ani@jovapos.test" not in options
            await page.screenshot(path=str(shots / "chat-desktop.png"))
            await page.set_viewport_size(PHONE)
            assert await page.locator(".pane-list").is_hidden()
            assert await page.locator(".chat-head .back").is_visible()
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1
            await page.screenshot(path=str(shots / "chat-phone.png"))
            await page.click(".answers summary")
            await page.screenshot(path=str(shots / "answers-phone.png"))
            await page.click(".answers summary")
            # Giving the chat back asks first, in a dialog.
            await page.click('form[data-confirm] button[type="submit"]')
            dialog = page.locator("dialog[open]")
            await dialog.wait_for()
            await page.screenshot(path=str(shots / "release-phone.png"))
            await dialog.locator('button[type="submit"]').click()
            await page.wait_for_url("**/console/inbox")
            await page.locator(".msg", has_text="dikembalikan ke bot").wait_for()
            assert "sudah kembali ke bot" in await page.inner_text("#inbox")
            await page.screenshot(path=str(shots / "inbox-after-phone.png"), full_page=True)
        finally:
            await browser.close()
