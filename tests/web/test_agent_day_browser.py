"""An agent's working day, walked through the real console pages in a real
browser (Playwright driving Debian's Chromium), the customer on WhatsApp
through Twilio's signed webhook and a local fake of its REST API and media
CDN: an admin adds the agent, who changes the one-time password; takes a chat
handed over to staff, answers with an edited ready answer (Ctrl+Enter),
opens a file the customer sent; on the customer's request reveals the ID
proof, verifies, asks for more and sees the answer arrive; completes another
customer's deletion through its dialog; gives the chat back and finds it
again. Screenshots (``day-*``) go to ``PRIVACYBOT_SCREENSHOTS`` (or pytest's
temporary folder), at desktop and phone width."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.requests.lookup import find_request
from bot.staff.accounts import add_staff
from flows.types import RequestStatus
from tests.conftest import CODE, JPEG, PDF, PNG, FakeClock
from tests.conversation.test_upload_page import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.integrations.test_twilio import CUSTOMER, REFERENCE, Twilio
from tests.web.console_html import shown_texts, unreadable
from tests.web.request_desk import PASSWORD, deletion_with_two_proofs

pytestmark = pytest.mark.slow
NEEDS_INFO, IN_PROGRESS = RequestStatus.NEEDS_INFO, RequestStatus.IN_PROGRESS
DESKTOP = {"width": 1280, "height": 800}
AGENT = "rina@jovapos.test"
NEW_PASSWORD = "rina-punya-kata-sandi-sendiri"
READY = "Terima kasih, Bapak/Ibu. Permintaan Anda sedang kami periksa."


async def _customer_files_a_correction_then_asks_for_staff(twilio: Twilio) -> str:
    """Budi, on WhatsApp, files a correction with a photo of his ID card,
    then asks for a person: the reference."""
    for line in ("koreksi", "Budi Santoso", "budi@example.com", CODE, "4", "Toko Budi"):
        await twilio.say(line)
    msid = "MM" + "1" * 32
    url = twilio.fake.add_media(msid, "ME" + "1" * 32, JPEG, "image/jpeg")
    await twilio.say("", message_sid=msid, media=((url, "image/jpeg"),))
    bodies = await twilio.say("1")
    reference = REFERENCE.search("\n".join(bodies)).group(0)  # type: ignore[union-attr]
    await twilio.say("staf")
    return reference


async def test_an_agents_working_day(twilio: Twilio, clock: FakeClock, tmp_path: Path) -> None:
    from playwright.async_api import Page, async_playwright

    server, fake = twilio.server, twilio.fake
    services = server.core.services
    await add_staff(services, "boss@jovapos.test", "admin", PASSWORD)
    correction = await _customer_files_a_correction_then_asks_for_staff(twilio)
    deletion = await deletion_with_two_proofs(server.core.engine)  # another customer's
    shots = Path(os.environ.get("PRIVACYBOT_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)

    async def shot(page: Page, name: str, full: bool = False) -> None:
        await page.screenshot(path=str(shots / f"day-{name}.png"), full_page=full)

    async def readable(page: Page) -> None:
        """No catalogue key, stored code or English on the Indonesian page."""
        found = unreadable(shown_texts(await page.content()), "id", services.catalogue)
        assert not found, (page.url, found)

    async def no_sideways_scroll(page: Page) -> None:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, page.url

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # 1. The admin adds the agent; the page shows a one-time password once.
            admin = await (await browser.new_context(viewport=DESKTOP)).new_page()
            await admin.goto(server.url + "/console/login")
            await admin.fill("#email", "boss@jovapos.test")
            await admin.fill("#password", PASSWORD)
            await admin.click('main button[type="submit"]')
            await admin.wait_for_url("**/console")
            await admin.click('nav.menu a[href="/console/staff"]')
            await admin.fill("#add-email", AGENT)
            await admin.select_option("#add-role", "agent")
            await admin.click('section[aria-labelledby="add-title"] button[type="submit"]')
            one_time = (await admin.inner_text("#password")).strip()
            assert len(one_time) >= 12
            # Its confirmations wait behind their buttons, not shown in place.
            assert await admin.locator("td dialog.confirm").count() == 4
            assert await admin.locator("td dialog.confirm:visible").count() == 0
            await readable(admin)
            await shot(admin, "01-staff-added", full=True)

            context = await browser.new_context(viewport=DESKTOP)
            page = await context.new_page()
            await page.goto(server.url + "/console/login")
            await page.fill("#email", AGENT)
            await page.fill("#password", one_time)
            await page.click('main button[type="submit"]')
            await page.wait_for_url("**/console/password")  # nothing else first
            assert await page.locator("nav.menu").count() == 0
            await page.goto(server.url + "/console/inbox")  # the rest waits too
            await page.wait_for_url("**/console/password")
            await page.fill("#current", one_time)
            await page.fill("#new", NEW_PASSWORD)
            await page.fill("#again", NEW_PASSWORD)
            await shot(page, "02-password")
            await page.click('main button[type="submit"]')
            await page.locator(".msg", has_text="Kata sandi Anda sudah diganti").wait_for()

            # 2. Budi's chat waits for staff; the agent takes it from the Waiting tab.
            await page.click('nav.menu a[href="/console/inbox"]')
            await page.click('#chat-tabs a:has-text("Menunggu")')
            await page.wait_for_url("**tab=waiting*")
            budi_row = page.locator("#inbox .chat-row", has_text="Budi Santoso")
            await budi_row.wait_for()
            await shot(page, "03-inbox-waiting")
            await page.set_viewport_size(PHONE)
            await no_sideways_scroll(page)
            await shot(page, "03-inbox-waiting-phone", full=True)
            await page.set_viewport_size(DESKTOP)
            await budi_row.locator("a").click()
            await page.wait_for_url("**/console/chats/*")
            chat_url = page.url.split("?")[0]
            clock.advance(minutes=2)
            await page.click('form[action$="/claim"] button')
            await page.locator(".msg", has_text="sekarang Anda pegang").wait_for()

            # 3. The admin writes a ready answer; the agent picks it, edits it,
            # sends it with Ctrl+Enter.
            await admin.goto(server.url + "/console/answers")
            await admin.fill("#text-id-new", READY)
            await admin.fill("#text-en-new", "Thank you. We are checking your request.")
            await admin.click('section[aria-labelledby="new-answer-title"] button')
            await admin.locator(
                ".answer-admin .answer-text, .answer-admin textarea"
            ).first.wait_for()
            await shot(admin, "04-answers", full=True)
            await page.reload()
            await page.click(".answers summary")
            await page.locator(".answer-list a", has_text=READY).click()
            box = page.locator("#reply-text")
            assert await box.input_value() == READY
            edited = READY.replace("Bapak/Ibu", "Pak Budi")
            await box.fill(edited)
            before = len(fake.messages)
            await box.press("Control+Enter")
            await page.locator(".msg", has_text="WhatsApp").wait_for()
            sent = (await fake.wait_for_messages(before + 1))[-1]
            assert sent["body"] == edited and sent["to"] == f"whatsapp:{CUSTOMER}"
            staff_line = page.locator("#transcript .line-staff", has_text="Pak Budi")
            await staff_line.locator(".state").wait_for()
            assert await staff_line.locator(".state").inner_text() == "terkirim"
            await shot(page, "05-chat-replied")

            await readable(page)
            clock.advance(minutes=1)

            # 4. Budi sends a photo and a PDF: two file chips (nothing decrypted
            # until opened); opening the photo is recorded once.
            msid = "MM" + "2" * 32
            photo = fake.add_media(msid, "ME" + "2" * 32, PNG, "image/png")
            await twilio.say("", message_sid=msid, media=((photo, "image/png"),))
            msid = "MM" + "3" * 32
            paper = fake.add_media(msid, "ME" + "3" * 32, PDF, "application/pdf")
            await twilio.say("Ini suratnya", message_sid=msid, media=((paper, "application/pdf"),))
            photo_chip = page.locator("#transcript a.file-chip.is-image")
            await photo_chip.wait_for(timeout=10_000)
            chip = page.locator("#transcript a.file-chip:not(.is-image)")
            await chip.wait_for(timeout=10_000)
            assert await chip.inner_text() == "Berkas PDF, 1 KB"
            assert await page.locator("#transcript img").count() == 0
            async with context.expect_page() as opened:
                await photo_chip.last.click()
            viewer = await opened.value
            await viewer.wait_for_load_state()
            await viewer.close()
            await shot(page, "06-chat-files")
            await page.set_viewport_size(PHONE)
            await no_sideways_scroll(page)
            await shot(page, "06-chat-files-phone")
            await page.set_viewport_size(DESKTOP)

            # 5. On Budi's request: reveal the ID proof with a reason, verify, ask;
            # Budi answers in the chat the agent still holds.
            clock.advance(minutes=3)
            await page.click(f'#draft a[href="/console/requests/{correction}"]')
            await page.wait_for_url(f"**/console/requests/{correction}")
            assert await page.locator("img.proof").count() == 0  # nothing shown unasked
            await page.select_option("#reason-1", "check_identity")
            await page.click("#proof-1 button[type=submit]")
            await page.wait_for_selector("#proof-1 img.proof")
            await page.click("#act-verify button[type=submit]")
            await page.locator(".msg", has_text="Tersimpan.").wait_for()
            ask = page.locator("#act-ask")
            await ask.locator("textarea").fill("Mohon kirim foto NPWP toko Anda.")
            await ask.locator("button[type=submit]").click()
            await page.locator(".msg", has_text="Tersimpan.").wait_for()
            assert (await find_request(services.store, correction)).status is NEEDS_INFO
            await shot(page, "07-request-asked", full=True)
            clock.advance(minutes=5)
            await twilio.say("NPWP toko saya 01.234.567.8-901.000")
            head = page.locator("#request-head")
            await head.locator(".badge", has_text="info diterima").wait_for(timeout=10_000)
            await page.locator("#request-history", has_text="01.234.567.8-901.000").wait_for()
            record = await find_request(services.store, correction)
            assert record.status is RequestStatus.INFO_RECEIVED
            views = await page.locator("#proof-1 .views li").all_inner_texts()
            assert any("Mencocokkan identitas" in v for v in views)
            assert all("console_chat" not in v for v in views)
            await readable(page)
            await shot(page, "08-request-answered", full=True)
            await page.set_viewport_size(PHONE)
            await no_sideways_scroll(page)
            await shot(page, "08-request-answered-phone", full=True)
            await page.set_viewport_size(DESKTOP)
            await page.click('nav.menu a[href="/console"]')
            row = page.locator("#queue-table tr.answered", has_text=correction)
            await row.locator(".badge-answered").wait_for()
            await readable(page)
            await shot(page, "09-queue-answered")
            # ... and her inbox lists it above the chats: she asked.
            await page.click('nav.menu a[href="/console/inbox"]')
            answered = page.locator(".answered-asks a", has_text=correction)
            await answered.wait_for()
            await shot(page, "09-inbox-answered")
            await page.click('nav.menu a[href="/console"]')

            # 6. Another customer's deletion: completing it asks in a dialog;
            # keeping the request the first time changes nothing.
            await page.locator(f'#queue-table a[href="/console/requests/{deletion}"]').click()
            await page.wait_for_url(f"**/console/requests/{deletion}")
            opener = page.locator("#act-complete button.opens-dialog")
            assert "btn-danger" in (await opener.get_attribute("class") or "")
            dialog = page.locator("#act-complete-dialog")
            await opener.click()
            await dialog.wait_for(state="visible")
            assert await dialog.evaluate("d => d.matches(':modal')")
            await shot(page, "10-complete-dialog")
            await dialog.locator(".closes-dialog").click()
            await dialog.wait_for(state="hidden")
            assert (await find_request(services.store, deletion)).status is IN_PROGRESS
            await opener.click()
            await dialog.locator('input[name="sure"]').check()
            await dialog.locator('button[type="submit"]').click()
            await page.locator(".msg", has_text="Tersimpan.").wait_for()
            assert "selesai" in await page.inner_text("#request-head")
            record = await find_request(services.store, deletion)
            assert record.status is RequestStatus.COMPLETED and record.forgotten
            await shot(page, "11-deletion-completed", full=True)

            # 7. Back to Budi's chat: give it back to the bot (a dialog), then
            # find it under "All" by his name and by the reference.
            await page.goto(chat_url)
            await page.click('form[data-confirm] button[type="submit"]')
            release = page.locator("dialog[open]")
            await release.wait_for()
            await shot(page, "12-release-dialog")
            await release.locator('button[type="submit"]').click()
            await page.wait_for_url("**/console/inbox")
            await page.locator(".msg", has_text="dikembalikan ke bot").wait_for()
            await page.click('#chat-tabs a:has-text("Semua")')
            for query in ("budi santoso", correction):
                await page.fill("#chat-search", query)
                await page.press("#chat-search", "Enter")
                await page.wait_for_url("**q=*")
                found = page.locator("#inbox .chat-row")
                assert await found.count() == 1, query
                assert "Budi Santoso" in await found.inner_text()
            await readable(page)
            await shot(page, "13-inbox-found")
            await page.set_viewport_size(PHONE)
            await no_sideways_scroll(page)
            await shot(page, "13-inbox-found-phone", full=True)
            await found.locator("a").click()
            await page.wait_for_url(f"{chat_url}*")
            await no_sideways_scroll(page)
            await shot(page, "14-chat-phone")

            # The admin's audit shows the agent's two looks, each once however
            # often the pages were drawn: the photo from the chat and the ID
            # proof (with its reason), with where she was.
            await admin.goto(server.url + "/console/audit?kind=proof_view")
            await shot(admin, "15-audit", full=True)
            seen = await admin.locator("table tbody tr", has_text=AGENT).all_inner_texts()
            assert len(seen) == 2, seen
            assert any("Berkas dari percakapan" in line for line in seen)  # the PNG
            assert any(line.split("\t")[3] == correction for line in seen)  # with a reason
            assert all(line.split("\t")[4] == "127.0.0.1" for line in seen)
            await readable(admin)
        finally:
            await browser.close()
