"""Every console page passes an automated accessibility scan: axe-core (the
copy bundled in the ``axe-playwright-python`` package, nothing fetched) run
in Debian's Chromium on each page, at desktop and phone width, in Indonesian
and English. A serious or critical violation fails the test, which prints
each one with its rule, impact, page and elements; so does a page that
scrolls sideways at phone width (WCAG 1.4.10, reflow), which axe cannot see.
Besides axe's defaults, the WCAG 2.2 target-size rule is on: the console is
used on phones.

The pages are found, not listed: every GET route of the console is visited,
a route's path parameters filled with each sample of the seeded desk (the
requests of every type and status and the chats in every state of
``test_console_pages``), and whatever answers HTML is scanned. A new page is
covered the day it exists; a route with a new kind of path parameter fails
here until ``samples`` says what to fill it with. ``EXTRA`` adds the states a
plain visit does not reach (filters, nothing found, not found, a refusal),
and the test adds a failed login, a one-time flash and an agent's views.

axe is put in the page with Playwright's ``evaluate``, which the console's
Content-Security-Policy (``script-src 'self'``) does not govern: the pages
are scanned with their real headers, no CSP bypass. A first scan of a page
with a planted fault proves the scanner sees what it should.

``pytest -s`` prints one line per page: scans and findings.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from bot.settings import load_settings
from bot.web.console.pages import FLASH
from bot.web.console.routes import console_routes
from tests.conftest import FakeClock
from tests.conversation.test_upload_page import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.server import RunningServer, running_server
from tests.web.test_console_pages import PASSWORD, _desk

pytestmark = pytest.mark.slow

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": PHONE}
LANGUAGES = ("id", "en")
FAILING = ("serious", "critical")
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}}
# GET routes that are no page: the live stream never ends.
# Streams and files, not pages: the proof and chat files are opened from pages
# that are scanned.
NOT_PAGES = {
    "/console/events",
    "/console/requests/{reference}/proofs/{number:rowid}",
    "/console/chats/{chat:rowid}/files/{file:rowid}",
    "/console/requests/{reference}/{action}",  # a GET only leads back to the page
}
# States of pages a plain visit of each route does not show ({name}: the first sample).
EXTRA = (
    "/console?status=all",
    "/console?status=closed&type=access&q=zzz",  # nothing found
    "/console/requests/ACC-ZZZZZZ",  # not found
    "/console/requests/{reference}?error=not_possible",  # a refusal on the page
)
KEYBOARD = ("id", "desktop")  # where the pages are also walked with Tab
ADMIN, AGENT = "boss@jovapos.test", "ani@jovapos.test"


@dataclass
class Finding:
    """One rule broken on one page, with the elements that break it."""

    page: str
    width: str
    lang: str
    rule: str
    impact: str
    help: str
    elements: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        shown = "".join(f"\n      {e}" for e in self.elements[:6])
        more = f"\n      … and {len(self.elements) - 6} more" if len(self.elements) > 6 else ""
        where = f"{self.page} [{self.lang}, {self.width}]"
        return f"  {where} {self.rule} ({self.impact}): {self.help}{shown}{more}"


def _filled(path: str, samples: dict[str, list[str]]) -> list[str]:
    """``path`` once for each sample of each parameter in it."""
    names = re.findall(r"\{(\w+)(?::\w+)?\}", path)
    if not names:
        return [path]
    name = names[0]
    assert name in samples, f"{path}: say in samples what to fill {{{name}}} with"
    pattern = re.compile(r"\{" + name + r"(?::\w+)?\}")
    return [
        filled
        for value in samples[name]
        for filled in _filled(pattern.sub(value, path, count=1), samples)
    ]


def console_paths(server: RunningServer, samples: dict[str, list[str]]) -> list[str]:
    """Every GET route of the console (filled with the samples), then ``EXTRA``."""
    paths: list[str] = []
    for route in console_routes(server.core):
        is_get = isinstance(route, Route) and "GET" in (route.methods or ())
        if is_get and route.path not in NOT_PAGES:
            paths.extend(_filled(route.path, samples))
    first = {name: values[:1] for name, values in samples.items()}
    paths.extend(path for extra in EXTRA for path in _filled(extra, first))
    return list(dict.fromkeys(paths))


async def _signed_in(server: RunningServer, email: str, lang: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=server.url)
    form = await http.get("/console/login", params={"lang": lang})
    data = {"csrf": _csrf(form.text), "email": email, "password": PASSWORD, "lang": lang}
    assert (await http.post("/console/login", data=data)).status_code == 303
    return http


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def _html_pages(http: httpx.AsyncClient, paths: list[str]) -> list[str]:
    """The paths that answer a page (HTML), not a file, a stream or a
    redirect (read no further than the headers); never a 5xx."""
    pages = []
    for path in paths:
        async with http.stream("GET", path) as answer:
            assert answer.status_code < 500, (path, answer.status_code)
            if answer.headers.get("content-type", "").startswith("text/html"):
                pages.append(path)
    return pages


async def _flash(http: httpx.AsyncClient, reference: str, action: str) -> tuple[str, str]:
    """A request acted on: the page it leads to and its one-time flash cookie."""
    page = await http.get(f"/console/requests/{reference}")
    data = {"csrf": _csrf(page.text), "message": "Mohon foto ulang", "sure": "on"}
    done = await http.post(f"/console/requests/{reference}/{action}", data=data)
    assert done.status_code == 303 and FLASH in done.cookies, done.headers
    return done.headers["location"], done.cookies[FLASH]


class Scanner:
    """axe and the reflow check on one page after another, keeping the findings."""

    def __init__(self) -> None:
        from axe_playwright_python.async_playwright import Axe

        self.axe = Axe()
        self.findings: list[Finding] = []
        self.scans: Counter[str] = Counter()

    async def scan(self, page: Any, name: str, width: str, lang: str) -> list[Finding]:
        results = (await self.axe.run(page, options=AXE_OPTIONS)).response
        found = [
            Finding(
                name,
                width,
                lang,
                violation["id"],
                violation["impact"],
                violation["help"],
                [" ".join(node["target"]) for node in violation["nodes"]],
            )
            for violation in results["violations"]
            if violation["impact"] in FAILING
        ]
        scrolled = await page.evaluate("document.documentElement.scrollWidth")
        if scrolled > page.viewport_size["width"]:
            wider = await page.evaluate(_WIDER_THAN_SCREEN)
            found.append(Finding(name, width, lang, "reflow", "serious", _REFLOW, wider))
        self.scans[name] += 1
        self.findings.extend(found)
        return found

    def summary(self) -> str:
        failing = Counter(f.page for f in self.findings)
        return "\n".join(
            f"  {name}: {count} scans, {failing[name]} findings"
            for name, count in self.scans.items()
        )


@dataclass
class Tab:
    """One browser tab at one width in one language, scanning what it shows."""

    scanner: Scanner
    page: Any
    base: str
    width: str
    lang: str

    async def visit(self, path: str, name: str = "") -> None:
        answer = await self.page.goto(self.base + path)
        assert answer is not None and answer.status < 500, path
        await self.scan(name or path)

    async def scan(self, name: str) -> None:
        await self.scanner.scan(self.page, name, self.width, self.lang)

    async def keyboard(self, name: str) -> None:
        """Through the page with Tab: the skip link comes first, shows and
        leads into <main>; every control then shows a focus ring."""
        found = []
        await self.page.keyboard.press("Tab")
        first = await self.page.evaluate(_FOCUSED)
        if not (first and first["skip"] and first["shown"]):
            found.append(("skip-link", "Tab first reaches a visible skip link", [str(first)]))
        await self.page.keyboard.press("Enter")
        if not await self.page.evaluate("document.activeElement.closest('main') !== null"):
            found.append(("skip-link", "The skip link moves focus into <main>", ["a.skip"]))
        unringed: list[str] = []
        for _ in range(80):
            await self.page.keyboard.press("Tab")
            focused = await self.page.evaluate(_FOCUSED)
            if focused is None or focused["seen"]:
                break
            if not focused["ring"]:
                unringed.append(focused["name"])
        if unringed:
            found.append(("focus-visible", "Every control shows where focus is", unringed))
        for rule, help, elements in found:
            finding = Finding(name, self.width, self.lang, rule, "serious", help, elements)
            self.scanner.findings.append(finding)

    async def cookies(self, cookies: Any) -> None:
        await self.page.context.add_cookies(
            [{"name": k, "value": v, "url": self.base} for k, v in cookies.items()]
        )


# The focused element: its name, whether it shows a ring (an outline or a
# shadow), whether it is the skip link and on screen, and whether the Tab
# walk has been there before (it marks what it visits).
_FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const style = getComputedStyle(e), box = e.getBoundingClientRect();
  const seen = e.dataset.a11ySeen === '1';
  e.dataset.a11ySeen = '1';
  return {
    name: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
      + [...e.classList].map(c => '.' + c).join('')
      + (e.getAttribute('href') ? `[href="${e.getAttribute('href')}"]` : ''),
    ring: (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
      || style.boxShadow !== 'none',
    skip: e.classList.contains('skip'),
    shown: box.top >= 0 && box.bottom <= innerHeight && box.width > 0,
    seen,
  };
}"""
# What the notice the focused field points to (aria-describedby) says.
_DESCRIBED = """() => {
  const id = document.activeElement && document.activeElement.getAttribute('aria-describedby');
  return id ? document.getElementById(id).textContent.trim() : '';
}"""
_REFLOW = "Page scrolls sideways at phone width (WCAG 1.4.10)"
_WIDER_THAN_SCREEN = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 6).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))"""


@pytest.fixture
async def server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), public_url="http://127.0.0.1"
    )
    async with running_server(settings, clock=clock) as running:
        yield running


async def test_every_console_page_passes_axe_at_both_widths_in_both_languages(
    server: RunningServer,
) -> None:
    from playwright.async_api import async_playwright

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does)")
    references, chat_ids = await _desk(server)
    samples = {"reference": references, "chat": [str(c) for c in chat_ids]}
    paths = console_paths(server, samples)
    held_by_agent = f"/console/chats/{chat_ids[1]}"
    scanner = Scanner()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            await _scanner_sees_a_planted_fault(browser, scanner, server)
            for lang, action in zip(LANGUAGES, ("ask", "verify"), strict=True):
                admin = await _signed_in(server, ADMIN, lang)
                agent = await _signed_in(server, AGENT, lang)
                pages = [p for p in await _html_pages(admin, paths) if p != "/console/login"]
                flashed, flash = await _flash(admin, references[1], action)
                for width, viewport in VIEWPORTS.items():
                    context = await browser.new_context(viewport=viewport, locale=lang)
                    tab = Tab(scanner, await context.new_page(), server.url, width, lang)
                    # Signed out: the login page, then a failed login.
                    await tab.visit(f"/console/login?lang={lang}", "/console/login")
                    if (lang, width) == KEYBOARD:
                        await tab.keyboard("/console/login")
                    await tab.page.fill("#email", ADMIN)
                    await tab.page.fill("#password", "salah")
                    await tab.page.click("form[action='/console/login'] [type=submit]")
                    await tab.scan("/console/login (refused)")
                    said = await tab.page.evaluate(_DESCRIBED)
                    assert said, "after a refused login, focus is on a field the notice describes"
                    # The admin: every page, then one with a one-time flash.
                    await tab.cookies(admin.cookies)
                    for path in pages:
                        await tab.visit(path)
                        if (lang, width) == KEYBOARD:
                            await tab.keyboard(path)
                    await tab.cookies({FLASH: flash})
                    await tab.visit(flashed, f"{flashed} (flash)")
                    # An agent: the admin-only refusal, and the chat she holds.
                    await context.clear_cookies()
                    await tab.cookies(agent.cookies)
                    await tab.visit("/console/staff", "/console/staff (agent: refused)")
                    await tab.visit(held_by_agent, f"{held_by_agent} (agent: held)")
                    await context.close()
                await admin.aclose()
                await agent.aclose()
        finally:
            await browser.close()
    print(f"\naxe-core on {len(scanner.scans)} pages:\n{scanner.summary()}")
    assert not scanner.findings, "serious or critical accessibility violations:\n" + "\n".join(
        str(f) for f in scanner.findings
    )


async def _scanner_sees_a_planted_fault(browser: Any, scanner: Scanner, server: RunningServer):
    """On the real login page (its CSP in force), an unlabelled field, a page
    wider than the phone and a control without a focus ring: all found, so a
    clean run means clean pages."""
    context = await browser.new_context(viewport=VIEWPORTS["phone"])
    tab = Tab(scanner, await context.new_page(), server.url, "phone", "id")
    await tab.page.goto(server.url + "/console/login")
    await tab.page.evaluate(
        """() => { const field = document.createElement('input');
        const wide = document.createElement('div');
        field.className = wide.className = 'planted'; wide.style.minWidth = '2000px';
        field.style.outline = field.style.boxShadow = 'none';
        wide.textContent = 'x';
        document.querySelector('main').append(field, wide); }"""
    )
    await tab.scan("planted")
    await tab.keyboard("planted")
    found = scanner.findings
    assert {f.rule for f in found} == {"label", "reflow", "focus-visible"}, found
    assert all(any("planted" in e for e in f.elements) for f in found), found
    scanner.findings.clear()
    del scanner.scans["planted"]
    await context.close()
