"""The request page in a real browser (Playwright driving Debian's Chromium):
an ID proof revealed with a reason, a deletion completed through its
confirmation dialog, and pages that follow changes made elsewhere."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.requests import actions
from bot.requests.lookup import find_request
from tests.conftest import FakeClock
from tests.conversation.test_upload_page import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.server import RunningServer
from tests.web.request_desk import (
    PASSWORD,
    correction_with_proof,
    deletion_with_two_proofs,
    staffed_server,
)

pytestmark = pytest.mark.slow
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
async def server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    async with staffed_server(tmp_path / "data", clock) as running:
        yield running


async def test_reveal_a_proof_complete_a_deletion_and_follow_changes_live(
    server: RunningServer, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    engine = server.core.engine
    services = engine.services
    deletion = await deletion_with_two_proofs(engine)
    correction = await correction_with_proof(engine)
    shots = Path(os.environ.get("PRIVACYBOT_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport=DESKTOP)
            page = await context.new_page()
            await page.goto(server.url + "/console/login")
            await page.fill('input[name="email"]', "ani@jovapos.test")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.wait_for_url("**/console")
            await page.goto(f"{server.url}/console/requests/{deletion}")
            # Opening the page shows no file and records nothing.
            assert await page.locator("img.proof").count() == 0
            record = await find_request(services.store, deletion)
            assert all(not a.views for a in record.attachments)
            assert await page.locator(".proof-item").count() == 2  # every file, not the latest
            await page.screenshot(path=str(shots / "request-open-desktop.png"), full_page=True)

            # Reveal the first file with a reason: shown inline, the look recorded.
            await page.select_option("#reason-1", "check_identity")
            await page.click("#proof-1 button[type=submit]")
            await page.wait_for_selector("#proof-1 img.proof")
            width = await page.eval_on_selector("#proof-1 img.proof", "img => img.naturalWidth")
            assert width == 32  # the ID proof, decrypted on the fly
            record = await find_request(services.store, deletion)
            view = record.attachments[0].views[0]
            assert (view.viewer, view.purpose, view.reason) == (
                "ani@jovapos.test",
                "console",
                "check_identity",
            )
            assert not record.attachments[1].views
            assert "Mencocokkan identitas" in await page.inner_text("#proof-1")
            await page.screenshot(path=str(shots / "request-revealed.png"), full_page=True)

            # A change made elsewhere shows at once, without a reload.
            await actions.delay(
                services, deletion, "staff:boss@jovapos.test", "Menunggu arsip", "2027-06-01"
            )
            await page.locator("#request-head", has_text="1 Juni 2027").wait_for(timeout=10000)
            await page.locator("#request-history", has_text="Menunggu arsip").wait_for()
            assert await page.locator("#proof-1 img.proof").count() == 1  # still shown

            # Completing the deletion asks in a dialog that says what will happen.
            opener = page.locator("#act-complete button.opens-dialog")
            assert "btn-danger" in (await opener.get_attribute("class") or "")
            await opener.click()
            dialog = page.locator("#act-complete-dialog")
            await dialog.wait_for(state="visible")
            assert await dialog.evaluate("d => d.matches(':modal')")
            assert "tidak dapat dibatalkan" in await dialog.inner_text()
            await page.screenshot(path=str(shots / "request-dialog.png"))
            await dialog.locator('input[name="sure"]').check()
            await dialog.locator('button[type="submit"]').click()
            await page.locator(".msg", has_text="Tersimpan.").wait_for()
            assert "selesai" in await page.inner_text("#request-head")
            assert await page.locator("#request-actions form").count() == 0
            record = await find_request(services.store, deletion)
            assert record.status.value == "completed" and record.forgotten

            # Another page open on a request that is cancelled elsewhere: the
            # actions no longer possible disappear.
            other = await context.new_page()
            await other.goto(f"{server.url}/console/requests/{correction}")
            await other.set_viewport_size(PHONE)
            await other.screenshot(path=str(shots / "request-open-phone.png"), full_page=True)
            width = await other.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1
            assert await other.locator("#act-verify form").count() == 1
            # A dialog open with words typed and its box ticked stays as it is
            # through a live update (the rest of the page follows); once it is
            # closed, the actions catch up.
            await other.locator("#act-reject button.opens-dialog").click()
            reject = other.locator("#act-reject-dialog")
            await reject.locator("textarea[name=reason]").fill("Nama tidak cocok")
            await reject.locator('input[name="sure"]').check()
            await reject.evaluate(
                "d => { d.dataset.before = 'yes'; }"
            )  # this element, not a new one
            await actions.delay(
                services, correction, "staff:boss@jovapos.test", "Arsip", "2027-03-01"
            )
            await other.locator("#request-head", has_text="1 Maret 2027").wait_for(timeout=10000)
            await other.locator("#request-history", has_text="Arsip").wait_for()
            await other.wait_for_timeout(300)  # a swap of the actions would be done by now
            assert await reject.evaluate("d => d.dataset.before") == "yes"  # kept...
            assert await reject.evaluate("d => d.matches(':modal')")  # ...open...
            assert await reject.locator("textarea[name=reason]").input_value() == (
                "Nama tidak cocok"
            )
            assert await reject.locator('input[name="sure"]').is_checked()  # ...box ticked
            await other.screenshot(path=str(shots / "request-dialog-phone.png"))
            await reject.locator(".closes-dialog").click()
            await other.wait_for_function(
                "() => document.getElementById('act-reject-dialog').dataset.before === undefined"
            )  # closed: the actions swapped in, up to date
            # A refusal the browser cannot foresee (a reason of spaces): the
            # dialog is open again on the page's own address, with the reason
            # in the reader's language and what was typed.
            await other.locator("#act-reject button.opens-dialog").click()
            await reject.locator("textarea[name=reason]").fill("   ")
            await reject.locator("input[name=sure]").check()
            await reject.locator("button[type=submit]").click()
            await other.locator(".msg-error").wait_for()
            await other.wait_for_function("document.querySelector('#act-reject-dialog').open")
            assert await reject.evaluate("d => d.matches(':modal')")
            assert await other.evaluate("location.pathname") == f"/console/requests/{correction}"
            problem = services.catalogue.text("id", "console.problem.reason_missing")
            assert problem in await other.inner_text(".msg-error")
            assert problem in await reject.locator(".form-problem").inner_text()  # in sight
            await other.screenshot(path=str(shots / "request-refused-dialog.png"))
            assert await reject.locator("textarea[name=reason]").input_value() == "   "
            await reject.locator(".closes-dialog").click()
            await actions.cancel(services, correction, "customer")
            await other.locator("#request-head", has_text="dibatalkan").wait_for(timeout=10000)
            await other.locator("#request-actions", has_text="Tidak ada tindakan").wait_for()
            assert await other.locator("#request-actions form").count() == 0
            await page.set_viewport_size(PHONE)
            await page.screenshot(path=str(shots / "request-done-phone.png"), full_page=True)

            # Without script the confirmation is in place, its box required.
            third = await correction_with_proof(engine, address="budi")
            plain = await browser.new_context(viewport=DESKTOP, java_script_enabled=False)
            await plain.add_cookies(await context.cookies())
            bare = await plain.new_page()
            await bare.goto(f"{server.url}/console/requests/{third}")
            block = bare.locator("#act-reject")
            assert await block.locator("button.opens-dialog").is_hidden()
            await block.locator("textarea[name=reason]").fill("Bukan pemilik akun")
            await block.locator("button[type=submit]").click()  # the box is not ticked
            assert await bare.evaluate("location.pathname") == f"/console/requests/{third}"
            assert (await find_request(services.store, third)).status.value == "verifying"
            await block.locator("input[name=sure]").check()
            await block.locator("button[type=submit]").click()
            await bare.locator(".msg", has_text="Tersimpan.").wait_for()
            assert (await find_request(services.store, third)).status.value == "rejected"
            await bare.screenshot(path=str(shots / "request-no-script.png"), full_page=True)
        finally:
            await browser.close()
    assert date(2027, 6, 1)  # the date the page showed as "1 Juni 2027"
