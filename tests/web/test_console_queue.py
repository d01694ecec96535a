"""The console's queue over real HTTP: its columns and marks, sorting by each
column both ways, fifty to a page with links that keep the filters, every
form of search (reference with or without its dash in any case, part of an
email or a name beyond ASCII), parameters nobody should send (never a 5xx),
and a page of 10,000 requests rendered in the database's time, not Python's."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.domain.models import Channel
from bot.requests.lookup import queue_page
from bot.settings import load_settings
from bot.staff.accounts import add_staff
from bot.store.interface.requests import QUEUE_SORTS, QueueQuery
from flows.types import OPEN_STATUSES, RequestStatus, RequestType
from tests.conftest import FakeClock
from tests.server import RunningServer, running_server
from tests.web.console_html import parse, rows, shown_texts, unreadable

PASSWORD = "kata-sandi-yang-panjang"
CHANNELS = [Channel.WHATSAPP, Channel.SMS, Channel.TELEGRAM, Channel.TERMINAL]
NAMES = ["Siti Aminah", "ÖMER Yılmaz", "Budi Santoso", "Straße Müller", "andi wijaya", "Çelik"]


@dataclass(frozen=True)
class Filed:
    reference: str
    full_name: str
    email: str
    channel: str
    status: str
    type: str
    created_at: str
    due_date: date
    id: int


@dataclass
class Queue:
    server: RunningServer
    http: httpx.AsyncClient
    filed: list[Filed]

    async def page(self, **params: str) -> httpx.Response:
        answer = await self.http.get("/console", params=params)
        assert answer.status_code == 200, (params, answer.status_code)
        return answer

    async def references(self, **params: str) -> list[str]:
        """The references shown, in order (none: the page says the queue is empty)."""
        html = (await self.page(**params)).text
        if not parse(html).find_all("table", id="queue-table"):
            return []
        return [cells[0].split()[0] for cells in rows(html, "queue-table")]


def _reference(n: int) -> str:
    prefix = ("DEL", "ACC", "COR", "RES")[n % 4]
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    suffix = "".join(alphabet[(n * 7 + k * 13) % 32] for k in range(3)) + f"{n:03d}"
    return f"{prefix}-{suffix}"


async def _fill(server: RunningServer, count: int, clock: FakeClock) -> list[Filed]:
    """``count`` requests of every status, type and channel, with names and
    emails beyond ASCII, filed over many days, due on many days (ties too)."""
    services = server.core.services
    filed = []
    async with services.store.transaction() as tx:
        for n in range(count):
            channel = CHANNELS[n % len(CHANNELS)]
            address = f"addr-{n}"
            conversation = await tx.create_conversation(channel, address, "menu", "id", clock())
            name = f"{NAMES[n % len(NAMES)]} {n}"
            email = f"{NAMES[n % len(NAMES)].split()[0].lower()}.{n}@example.com"
            status = list(RequestStatus)[n % len(RequestStatus)]
            rtype = list(RequestType)[(n // 3) % len(RequestType)]
            at = clock() - timedelta(hours=(n * 37) % 900)
            due = clock().date() + timedelta(days=(n * 11) % 60 - 10)
            rid = await tx.insert_request(
                reference=_reference(n),
                type=rtype,
                status=status,
                channel=channel,
                customer_address=address,
                conversation_id=conversation.id,
                language="id",
                full_name=name,
                email=email,
                reason=None,
                details={},
                now=at,
                due_date=due,
            )
            filed.append(
                Filed(
                    _reference(n),
                    name,
                    email,
                    channel.value,
                    status.value,
                    rtype.value,
                    at.isoformat(),
                    due,
                    rid,
                )
            )
    return filed


async def _log_in(http: httpx.AsyncClient) -> None:
    form = await http.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    answer = await http.post(
        "/console/login", data={"csrf": token, "email": "ani@jovapos.test", "password": PASSWORD}
    )
    assert answer.status_code == 303


@pytest.fixture
async def queue(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Queue]:
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), public_url="http://127.0.0.1"
    )
    async with (
        running_server(settings, clock=clock) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        await add_staff(server.core.services, "ani@jovapos.test", "agent", PASSWORD)
        await _log_in(http)
        yield Queue(server, http, await _fill(server, 130, clock))


def _expected(filed: list[Filed], sort: str, desc: bool, wanted=None) -> list[str]:
    """The order the queue promises, worked out in Python."""
    status_rank = {s.value: n for n, s in enumerate(RequestStatus)}
    keys = {
        "due": lambda f: (f.due_date, f.id),
        "days": lambda f: (f.due_date, f.id),
        "filed": lambda f: (f.created_at, f.id),
        "name": lambda f: (f.full_name.casefold(), f.due_date, f.id),
        "email": lambda f: (f.email.casefold(), f.due_date, f.id),
        "channel": lambda f: (f.channel, f.due_date, f.id),
        "reference": lambda f: (f.reference, f.id),
        "type": lambda f: (f.type, f.due_date, f.id),
        "status": lambda f: (status_rank[f.status], f.due_date, f.id),
    }
    chosen = [f for f in filed if wanted is None or wanted(f)]
    return [f.reference for f in sorted(chosen, key=keys[sort], reverse=desc)]


def _open(f: Filed) -> bool:
    return f.status in OPEN_STATUSES


async def test_the_default_page_is_open_requests_soonest_due_fifty_to_a_page(queue: Queue) -> None:
    expected = _expected(queue.filed, "due", False, _open)
    assert len(expected) > 50
    first = await queue.page()
    assert [c[0].split()[0] for c in rows(first.text, "queue-table")] == expected[:50]
    assert f"{len(expected)}" in parse(first.text).find(cls="queue-count").text()
    second = await queue.references(page="2")
    assert second == expected[50:100]
    # Columns: reference and type, name, email, channel, status, filed, due, days left.
    headers = [th.text() for th in parse(first.text).find("table", id="queue-table").find_all("th")]
    assert len(headers) == 8
    row = rows(first.text, "queue-table")[0]
    f = next(x for x in queue.filed if x.reference == expected[0])
    assert f.full_name in row[1] and f.email == row[2]


@pytest.mark.parametrize("sort", QUEUE_SORTS)
@pytest.mark.parametrize("direction", ["asc", "desc"])
async def test_every_column_sorts_both_ways(queue: Queue, sort: str, direction: str) -> None:
    expected = _expected(queue.filed, sort, direction == "desc", lambda f: True)
    for page in ("1", "3"):
        shown = await queue.references(status="all", sort=sort, dir=direction, page=page)
        start = (int(page) - 1) * 50
        assert shown == expected[start : start + 50], (sort, direction, page)


async def test_header_links_sort_and_flip_and_page_links_keep_the_filters(queue: Queue) -> None:
    page = await queue.page(status="all", type="access", q="example", sort="name", dir="asc")
    table = parse(page.text).find("table", id="queue-table")
    links = {a.text().rstrip("▲▼"): a.attrs["href"] for a in table.find("thead").find_all("a")}
    sorted_th = [th for th in table.find_all("th") if th.attrs.get("aria-sort") != "none"]
    assert [th.attrs["aria-sort"] for th in sorted_th] == ["ascending"]
    for href in links.values():
        query = parse_qs(urlsplit(href).query)
        assert query["status"] == ["all"] and query["type"] == ["access"]
        assert query["q"] == ["example"] and "page" not in query
    name_link = parse_qs(urlsplit(sorted_th[0].find("a").attrs["href"]).query)
    assert (name_link["sort"], name_link["dir"]) == (["name"], ["desc"])  # flips
    matching = [f for f in queue.filed if f.type == "access"]
    assert len(matching) > 0
    wide = await queue.page(status="all", sort="filed", dir="desc")
    pager = parse(wide.text).find("nav", cls="pager")
    hrefs = [a.attrs["href"] for a in pager.find_all("a")]
    assert hrefs, "a queue of 130 has pages"
    for href in hrefs:
        query = parse_qs(urlsplit(href).query)
        assert (
            query["status"] == ["all"] and query["sort"] == ["filed"] and query["dir"] == ["desc"]
        )
    last = await queue.references(status="all", page="3")
    assert len(last) == 130 - 100
    current = parse((await queue.page(status="all", page="2")).text).find(cls="current")
    assert current.text() == "2" and current.attrs["aria-current"] == "page"


@pytest.mark.parametrize(
    ("typed", "finds"),
    [
        ("{ref}", "exactly"),  # as written
        ("{ref_lower}", "exactly"),  # any case
        ("{ref_nodash}", "exactly"),  # without the dash
        ("{ref_nodash_lower}", "exactly"),
        ("  {ref_lower}  ", "exactly"),  # spaces around
        ("{suffix_part}", "among"),  # part of it
    ],
)
async def test_search_by_reference_in_any_form(queue: Queue, typed: str, finds: str) -> None:
    target = queue.filed[42]
    ref = target.reference
    words = typed.format(
        ref=ref,
        ref_lower=ref.lower(),
        ref_nodash=ref.replace("-", ""),
        ref_nodash_lower=ref.replace("-", "").lower(),
        suffix_part=ref[2:7].lower(),  # "l-xyz" style: across the dash
    )
    found = await queue.references(status="all", q=words)
    if finds == "exactly":
        assert found == [ref], words
    else:
        assert ref in found, words


async def test_search_forgives_what_a_reference_forgives(queue: Queue) -> None:
    """O for 0 and I or L for 1, as a customer may type it (``parse_reference``)."""
    target = next(f for f in queue.filed if "0" in f.reference[4:] and "1" in f.reference[4:])
    typed = target.reference[4:].replace("0", "o").replace("1", "l")
    assert target.reference in await queue.references(status="all", q=typed)


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ("ömer", "name"),  # non-ASCII, other case
        ("YILMAZ", "name"),  # ı (dotless) typed as I: casefold keeps them apart...
        ("STRASSE", "name"),  # ß folds to ss
        ("müller 3", "name"),
        ("çelik", "name"),
        ("BUDI.1", "email"),
        ("@EXAMPLE.COM", "email"),
    ],
)
async def test_search_by_part_of_a_name_or_email(queue: Queue, typed: str, field: str) -> None:
    needle = typed.casefold()
    expected = _expected(
        queue.filed,
        "due",
        False,
        lambda f: (
            needle in (f.full_name if field == "name" else f.email).casefold()
            or needle in f.email.casefold()
            or needle in f.full_name.casefold()
        ),
    )
    found = await queue.references(status="all", q=typed)
    assert found == expected[:50], typed
    if typed == "YILMAZ":
        assert found == []  # "yılmaz" casefolds to itself, not to "yilmaz"
    elif typed != "@EXAMPLE.COM":
        assert found, typed


async def test_marks_overdue_due_soon_and_answered(queue: Queue) -> None:
    page = await queue.page(status="all", sort="due", dir="asc")
    html = parse(page.text)
    table = html.find("table", id="queue-table")
    body = table.find("tbody").find_all("tr")
    catalogue = queue.server.core.services.catalogue
    overdue = catalogue.text("id", "console.overdue")
    soon = catalogue.text("id", "console.due_soon")
    answered = catalogue.text("id", "console.queue.answered")
    today = queue.server.core.services.clock().date()
    seen = {"overdue": 0, "soon": 0, "answered": 0}
    for tr in body:
        ref = tr.find("td").find("a").text()
        f = next(x for x in queue.filed if x.reference == ref)
        text = tr.text()
        is_open = f.status in OPEN_STATUSES
        assert (overdue in text) == (is_open and f.due_date < today), ref
        seen["overdue"] += overdue in text
        seen["soon"] += soon in text
        assert (answered in text) == (f.status == "info_received"), ref
        assert ("answered" in tr.classes) == (f.status == "info_received")
        seen["answered"] += answered in text
    assert all(seen.values()), seen
    only = await queue.references(status="info_received")
    assert only and all(
        next(x for x in queue.filed if x.reference == r).status == "info_received" for r in only
    )


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "bogus"},
        {"sort": "due; DROP TABLE requests"},
        {"dir": "sideways"},
        {"page": "-1"},
        {"page": "0"},
        {"page": "abc"},
        {"page": "99999999999999999999"},  # no page number: the first page
        {"page": "9999"},  # past the end: the last page
        {"page": "٣"},  # an Arabic-Indic digit: isdigit(), but no page number here
        {"status": "bogus"},
        {"type": "bogus"},
        {"q": "x" * 5000},
        {"q": "%"},
        {"q": "_"},
        {"q": "-"},
        {"q": "\x00"},
    ],
)
async def test_parameters_nobody_should_send_read_as_the_default(
    queue: Queue, params: dict[str, str]
) -> None:
    answer = await queue.page(**params)
    table = parse(answer.text).find_all("table", id="queue-table")
    shown = [c[0].split()[0] for c in rows(answer.text, "queue-table")] if table else []
    default = _expected(queue.filed, "due", False, _open)
    if "q" in params:
        # Searched for as written: no SQL wildcard, nobody's data has these.
        assert shown == [], params
    elif params.get("page") == "9999":
        assert len(default) <= 100 and shown == default[50:]
    else:
        assert shown == default[:50], params


async def test_the_language_switch_keeps_sort_dir_and_page(queue: Queue) -> None:
    page = await queue.page(status="all", sort="name", dir="desc", page="2", junk="x")
    link = parse(page.text).find("a", hreflang="en")
    query = parse_qs(urlsplit(link.attrs["href"]).query)
    assert query == {
        "status": ["all"],
        "sort": ["name"],
        "dir": ["desc"],
        "page": ["2"],
        "lang": ["en"],
    }
    back = await queue.http.get(link.attrs["href"])
    assert back.status_code == 303
    assert parse_qs(urlsplit(back.headers["location"]).query) == {
        "status": ["all"],
        "sort": ["name"],
        "dir": ["desc"],
        "page": ["2"],
    }


async def test_the_queue_reads_as_words_in_both_languages(queue: Queue) -> None:
    catalogue = queue.server.core.services.catalogue
    for lang in ("id", "en"):
        await queue.http.get("/console", params={"lang": lang})
        for params in (
            {},
            {"status": "all", "page": "2"},
            {"status": "info_received"},
            {"q": "zzz"},
        ):
            answer = await queue.page(**params)
            assert parse(answer.text).find("html").attrs["lang"] == lang
            assert unreadable(shown_texts(answer.text), lang, catalogue) == [], (lang, params)


async def test_ten_thousand_requests_page_as_fast_as_a_few(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The database filters, sorts and pages: the page's time hardly grows
    with the queue (measured on the use case the page calls, and the page)."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), public_url="http://x")
    async with running_server(settings, clock=clock) as server:
        store = server.core.services.store
        await _fill(server, 10_000, clock)
        timings = {}
        for label, query in {
            "default": QueueQuery(statuses=OPEN_STATUSES),
            "last page by filing": QueueQuery(sort="filed", descending=True, offset=9_950),
            "by name": QueueQuery(sort="name"),
            "search a name": QueueQuery(search="ömer"),
            "search a reference": QueueQuery(search="acc"),
        }.items():
            began = time.perf_counter()
            found, total = await queue_page(store, query)
            timings[label] = time.perf_counter() - began
            assert found and total >= len(found)
        async with httpx.AsyncClient(base_url=server.url) as http:
            await add_staff(server.core.services, "ani@jovapos.test", "agent", PASSWORD)
            await _log_in(http)
            for label, params in {
                "page": {},
                "page sorted by name, page 100": {"status": "all", "sort": "name", "page": "100"},
                "page searched": {"status": "all", "q": "müller"},
            }.items():
                began = time.perf_counter()
                answer = await http.get("/console", params=params)
                timings[label] = time.perf_counter() - began
                assert answer.status_code == 200 and len(rows(answer.text, "queue-table")) == 50
        print("queue timings (s):", {k: round(v, 3) for k, v in timings.items()})
        assert max(timings.values()) < 1.0, timings


@pytest.mark.slow
async def test_the_queue_in_a_browser_at_desktop_and_phone_width(
    queue: Queue, tmp_path: Path
) -> None:
    """Screenshots of the queue (PRIVACYBOT_SCREENSHOTS=DIR keeps them): a
    table at desktop width, cards of labelled values at phone width, with no
    sideways scrolling; sorting by a header and paging work by links."""
    import os

    from playwright.async_api import async_playwright

    from tests.conversation.test_upload_page import CHROMIUM, CHROMIUM_ARGS, PHONE

    artefacts = Path(os.environ.get("PRIVACYBOT_SCREENSHOTS") or tmp_path / "screenshots")
    artefacts.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await page.goto(queue.server.url + "/console")
            await page.fill('input[name="email"]', "ani@jovapos.test")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.wait_for_url("**/console")
            await page.goto(queue.server.url + "/console?status=all")
            await page.screenshot(path=str(artefacts / "queue-desktop.png"), full_page=True)
            await page.click(
                "th a.sort >> text="
                + queue.server.core.services.catalogue.text("id", "console.queue.name")
            )
            await page.wait_for_url("**sort=name**")
            await page.click("a[rel=next]")
            await page.wait_for_url("**page=2**")
            assert "sort=name" in page.url and "status=all" in page.url
            await page.screenshot(path=str(artefacts / "queue-desktop-sorted.png"), full_page=True)
            await page.set_viewport_size(PHONE)
            await page.goto(queue.server.url + "/console?status=all")
            await page.screenshot(path=str(artefacts / "queue-phone.png"), full_page=True)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1  # cards, not a wide table
            display = await page.eval_on_selector(
                "#queue-table tbody tr", "r => getComputedStyle(r).display"
            )
            assert display == "grid"
        finally:
            await browser.close()


async def test_search_reads_a_name_typed_decomposed_and_a_full_width_reference(
    queue: Queue,
) -> None:
    """ "Müller" typed as u + combining diaeresis (as some keyboards send it)
    finds the name stored composed; a reference in full-width letters reads as one."""
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "müller 3")
    assert decomposed != "müller 3"
    assert (
        await queue.references(status="all", q=decomposed)
        == await queue.references(status="all", q="müller 3")
        != []
    )
    target = queue.filed[7].reference
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in target)
    assert target in await queue.references(status="all", q=full_width)
