"""The desk pages in a real browser (Playwright driving Debian's Chromium): a
new staff member's first login with a one-time password, the dashboard at
desktop and phone width, the confirmation dialog on the staff page and the
audit view. Screenshots go to ``PRIVACYBOT_SCREENSHOTS`` (or pytest's
temporary folder)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.domain.models import Channel
from bot.staff.accounts import add_staff
from flows.types import RequestStatus
from tests.conversation.test_upload_page import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.server import RunningServer
from tests.web.test_console_desk import PASSWORD, _file, server  # noqa: F401 (the fixture)

DESKTOP = {"width": 1280, "height": 800}
NEW = "kata-sandi-pilihan-sendiri"


async def _busy_desk(server: RunningServer) -> None:  # noqa: F811 (the fixture's name)
    """Open requests in every status and completions on time and late."""
    services = server.core.services
    today = date(2026, 11, 26)
    for n, days in enumerate((-4, -1, 0, 1, 2, 3, 6, 9, 12, 20)):
        await _file(server, f"DEL-0000{n}A", f"Pelanggan {n}", today + timedelta(days=days))
    statuses = [
        RequestStatus.AWAITING_ID_PROOF,
        RequestStatus.NEEDS_INFO,
        RequestStatus.IN_PROGRESS,
    ]
    async with services.store.transaction() as tx:
        for n, status in enumerate(statuses):
            await tx.set_request_status(f"DEL-0000{n}A", status, services.clock())
        chat = await tx.get_conversation(Channel.TERMINAL, "desk")
        assert chat is not None
    for n in range(8):
        reference = f"DEL-0001{n}B"
        await _file(server, reference, f"Selesai {n}", date(2026, 11, 10))
        done = datetime(2026, 11, 3 + 2 * n, 5, 0, tzinfo=UTC)  # the last four after the due date
        async with services.store.transaction() as tx:
            await tx.set_request_status(reference, RequestStatus.COMPLETED, done)
            await tx.add_request_event(reference, "cli", "complete", {}, done)


async def test_a_first_login_changes_the_password_then_the_dashboard_and_audit(
    server: RunningServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    await _busy_desk(server)
    await add_staff(server.core.services, "dina@jovapos.test", "admin", PASSWORD, one_time=True)
    shots = Path(os.environ.get("PRIVACYBOT_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport=DESKTOP)
            await page.goto(server.url + "/console")
            await page.fill('input[name="email"]', "dina@jovapos.test")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.wait_for_url("**/console/password")  # nothing else before the change
            assert await page.locator("nav.menu").count() == 0
            await page.screenshot(path=str(shots / "password-desktop.png"), full_page=True)
            await page.set_viewport_size(PHONE)
            await page.screenshot(path=str(shots / "password-phone.png"), full_page=True)
            await page.set_viewport_size(DESKTOP)
            await page.fill("#current", PASSWORD)
            await page.fill("#new", NEW)
            await page.fill("#again", NEW)
            await page.click('main button[type="submit"]')
            await page.wait_for_url("**/console/dashboard")
            await page.locator(".msg", has_text="Kata sandi Anda sudah diganti").wait_for()
            assert await page.title() == "Dasbor · Konsol Privasi JOVA POS"
            bars = page.locator("svg.chart rect.chart-bar")
            assert await bars.count() >= 5
            box = await bars.first.bounding_box()
            assert box is not None and box["width"] > 10  # drawn, and styled by our sheet
            fill = await bars.first.evaluate("bar => getComputedStyle(bar).fill")
            assert fill not in ("", "none", "rgb(0, 0, 0)")
            await page.screenshot(path=str(shots / "dashboard-desktop.png"), full_page=True)
            await page.set_viewport_size(PHONE)
            await page.screenshot(path=str(shots / "dashboard-phone.png"), full_page=True)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1  # no sideways scroll on a phone
            await page.set_viewport_size(DESKTOP)

            # Disabling asks first, in a dialog; cancelling does nothing.
            await page.goto(server.url + "/console/staff")
            await page.locator('a[data-dialog^="confirm-disable"]').first.click()
            dialog = page.locator("dialog[open]")
            await dialog.wait_for()
            assert page.url.endswith("/console/staff")  # the script opened it, no page
            await page.screenshot(path=str(shots / "staff-dialog-desktop.png"))
            await dialog.locator('button:has-text("Batal")').click()
            assert await page.locator("dialog[open]").count() == 0
            await page.screenshot(path=str(shots / "staff-desktop.png"), full_page=True)
            await page.set_viewport_size(PHONE)
            await page.screenshot(path=str(shots / "staff-phone.png"), full_page=True)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1
            await page.set_viewport_size(DESKTOP)

            await page.goto(server.url + "/console/audit")
            assert await page.title() == "Audit · Konsol Privasi JOVA POS"
            await page.screenshot(path=str(shots / "audit-desktop.png"), full_page=True)
            await page.set_viewport_size(PHONE)
            await page.screenshot(path=str(shots / "audit-phone.png"), full_page=True)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1
        finally:
            await browser.close()
    for name in ("password", "dashboard", "audit"):
        for size in ("desktop", "phone"):
            assert (shots / f"{name}-{size}.png").stat().st_size > 1000
