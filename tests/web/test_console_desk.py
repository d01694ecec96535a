"""The desk-wide console pages over real HTTP (issue 12): the dashboard, the
queue as CSV, the audit view, one's own password (forced after a one-time
password), and the confirmations and unlock on the staff page."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from bot.domain.models import Channel
from bot.settings import load_settings
from bot.staff.accounts import LOCK_AFTER, LOCK_FOR, add_staff
from bot.web.console.audit import PAGE_SIZE
from flows.types import RequestStatus, RequestType
from tests.conftest import FakeClock
from tests.server import RunningServer, running_server
from tests.web.console_html import notices, parse, rows

PASSWORD = "kata-sandi-yang-panjang"
NEW = "kata-sandi-baru-milik-sendiri"
INJECTED = '=HYPERLINK("http://x.example","klik")'


@pytest.fixture
async def server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), public_url="http://127.0.0.1"
    )
    async with running_server(settings, clock=clock) as running:
        services = running.core.services
        await add_staff(services, "boss@jovapos.test", "admin", PASSWORD)
        await add_staff(services, "ani@jovapos.test", "agent", PASSWORD)
        await add_staff(services, "baru@jovapos.test", "agent", PASSWORD, one_time=True)
        yield running


async def _file(server: RunningServer, reference: str, name: str, due: date) -> None:
    services = server.core.services
    now = services.clock()
    async with services.store.transaction() as tx:
        chat = await tx.get_conversation(Channel.TERMINAL, "desk")
        if chat is None:
            chat = await tx.create_conversation(Channel.TERMINAL, "desk", "menu", "id", now)
        await tx.insert_request(
            reference=reference,
            type=RequestType.DELETION,
            status=RequestStatus.VERIFYING,
            channel=Channel.TERMINAL,
            customer_address="desk",
            conversation_id=chat.id,
            language="id",
            full_name=name,
            email="-2+3@example.com",
            reason=None,
            details={},
            now=now,
            due_date=due,
        )


@asynccontextmanager
async def _client(
    server: RunningServer, email: str, lang: str = "id"
) -> AsyncIterator[httpx.AsyncClient]:
    """A staff member's browser, logged in (in ``lang``)."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        form = await http.get("/console/login", params={"lang": lang})
        answer = await http.post(
            "/console/login",
            data={"csrf": _csrf(form.text), "email": email, "password": PASSWORD, "lang": lang},
        )
        assert answer.status_code == 303
        yield http


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _title(page: str) -> str:
    return parse(page).find("title").text()


async def test_a_one_time_password_is_changed_before_anything_else(
    server: RunningServer,
) -> None:
    async with _client(server, "baru@jovapos.test") as http:
        for path in ("/console", "/console/dashboard", "/console/inbox", "/console/queue.csv"):
            answer = await http.get(path)
            assert (answer.status_code, answer.headers["location"]) == (303, "/console/password")
        page = await http.get("/console/password")
        assert page.status_code == 200 and "Ganti kata sandi" in _title(page.text)
        assert parse(page.text).find_all("nav", cls="menu") == []  # nowhere else to go yet
        csrf = _csrf(page.text)
        # A form elsewhere is not done either.
        other = await http.post("/console/chats/1/claim", data={"csrf": csrf})
        assert (other.status_code, other.headers["location"]) == (303, "/console/password")
        # The language switch keeps the page.
        switched = await http.get("/console/password", params={"lang": "en"})
        assert switched.headers["location"] == "/console/password"
        form = {"csrf": csrf, "current": PASSWORD, "new": NEW, "again": NEW}
        for wrong, key in (
            ({"again": NEW + "x"}, "password_differs"),
            ({"current": "bukan-kata-sandinya"}, "password_wrong"),
            ({"new": PASSWORD, "again": PASSWORD}, "password_same"),
            ({"new": "pendek", "again": "pendek"}, "staff_password"),
        ):
            refused = await http.post("/console/password", data={**form, **wrong})
            assert refused.status_code == 400
            text = server.core.services.catalogue.text("en", f"console.problem.{key}")
            assert notices(refused.text) == [("error", text.format(minimum=12))]
        done = await http.post("/console/password", data=form)
        assert (done.status_code, done.headers["location"]) == (303, "/console/dashboard")
        dashboard = await http.get("/console/dashboard")
        assert dashboard.status_code == 200
        assert notices(dashboard.text)[0][0] == "done"
        assert notices((await http.get("/console/dashboard")).text) == []  # once
    async with server.core.services.store.transaction(readonly=True) as tx:
        account = await tx.staff_by_email("baru@jovapos.test")
    assert account is not None and not account.must_change_password


async def test_everyone_changes_their_own_password_from_the_menu(server: RunningServer) -> None:
    async with _client(server, "ani@jovapos.test") as http:
        page = await http.get("/console/dashboard")
        assert parse(page.text).find("a", href="/console/password")
        form = await http.get("/console/password")
        assert "Kata sandi Anda dibuatkan" not in form.text  # no one-time password to change
        done = await http.post(
            "/console/password",
            data={"csrf": _csrf(form.text), "current": PASSWORD, "new": NEW, "again": NEW},
        )
        assert (done.status_code, done.headers["location"]) == (303, "/console/password")
        assert notices((await http.get("/console/password")).text)[0][0] == "done"


async def test_the_dashboard_shows_the_desk_with_a_chart_and_its_text(
    server: RunningServer,
) -> None:
    today = date(2026, 11, 26)
    await _file(server, "DEL-00000A", "Sari", today - timedelta(days=3))
    await _file(server, "DEL-00000B", "Budi", today + timedelta(days=1))
    for lang, title in (("id", "Dasbor"), ("en", "Dashboard")):
        async with _client(server, "ani@jovapos.test", lang) as http:
            page = await http.get("/console/dashboard")
            assert page.status_code == 200 and _title(page.text).startswith(title)
            html = parse(page.text)
            assert html.find("a", href="/console/dashboard").attrs["aria-current"] == "page"
            figures = [li.text() for li in html.find("ul", id="figures").find_all("li")]
            assert figures[0].startswith("2 ") and figures[1].startswith("1 ")
            assert figures[2].startswith("1 ")  # one overdue
            charts = html.find_all("svg", cls="chart")
            assert len(charts) == 2 and all(c.attrs["role"] == "img" for c in charts)
            described = charts[0].find("desc").text()
            assert "2" in described and ("verifikasi" in described or "verify" in described)
            assert "style=" not in page.text  # the CSP forbids inline styles
            assert html.find("a", href="/console/queue.csv?status=open")
            # Agents see the desk; the audit and the settings are in admins' menus only.
            menu = {a.attrs["href"] for a in html.find("nav", cls="menu").find_all("a")}
            assert "/console/dashboard" in menu and "/console/audit" not in menu
            assert "/console/settings" not in menu and "/console/answers" not in menu
    async with _client(server, "boss@jovapos.test") as http:
        html = parse((await http.get("/console/dashboard")).text)
        menu = {a.attrs["href"] for a in html.find("nav", cls="menu").find_all("a")}
        assert {"/console/audit", "/console/settings", "/console/staff", "/console/answers"} <= menu
        current = parse((await http.get("/console/answers")).text).find(
            "a", href="/console/answers"
        )
        assert current.attrs["aria-current"] == "page"


async def test_the_queue_as_csv_is_safe_for_excel_and_recorded(server: RunningServer) -> None:
    await _file(server, "DEL-00000A", INJECTED, date(2026, 12, 1))
    await _file(server, "DEL-00000B", "Budi\tSantoso", date(2026, 12, 2))
    async with _client(server, "ani@jovapos.test") as http:
        answer = await http.get("/console/queue.csv", params={"status": "open", "q": ""})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"].startswith('attachment; filename="antrean-')
        assert answer.headers["cache-control"] == "no-store"
        assert answer.content.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
        table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert table[0][:3] == ["Referensi", "Jenis", "Status"]
        by_reference = {row[0]: row for row in table[1:]}
        assert set(by_reference) == {"DEL-00000A", "DEL-00000B"}
        first = by_reference["DEL-00000A"]
        assert first[4] == "'" + INJECTED and first[5] == "'-2+3@example.com"
        assert first[2] == "perlu verifikasi identitas"
        assert first[6] == "2026-11-26T10:00:00+07:00" and first[7] == "2026-12-01"
        assert by_reference["DEL-00000B"][4] == "Budi\tSantoso"  # only a leading tab is a risk
        # The same filters as the queue: a type with none, a search.
        none = await http.get("/console/queue.csv", params={"type": "access"})
        assert len(list(csv.reader(io.StringIO(none.content.decode("utf-8-sig"))))) == 1
        one = await http.get("/console/queue.csv", params={"status": "all", "q": "del-00000b"})
        assert len(list(csv.reader(io.StringIO(one.content.decode("utf-8-sig"))))) == 2
    async with _client(server, "boss@jovapos.test", "en") as http:
        english = await http.get("/console/queue.csv")
        assert english.content.decode("utf-8-sig").startswith("Reference,Type,Status")
        audit = await http.get("/console/audit", params={"kind": "export"})
        lines = rows(audit.text, "audit-lines")
        assert len(lines) == 4 and all(line[4] == "127.0.0.1" for line in lines)
        assert [line[2] for line in lines] == ["boss@jovapos.test"] + ["ani@jovapos.test"] * 3
        assert lines[0][3] == "all open, all types (2 in the file)"
        assert lines[1][3] == "all, all types (1 in the file) (search: del-00000b)"


async def test_the_csv_holds_what_the_queue_page_finds_in_its_order(
    server: RunningServer,
) -> None:
    """The export reads the URL as the queue does: a partial name finds the
    same requests, sorted the same way, across every page (not only 50)."""
    for n in range(70):
        name = f"Ömer Santoso {n:02d}" if n % 5 else f"Sari {n:02d}"
        await _file(server, f"DEL-{n:06d}", name, date(2026, 12, 1) + timedelta(days=n))
    async with _client(server, "ani@jovapos.test") as http:
        view = {"q": "ömer santo", "sort": "name", "dir": "desc"}
        first = (await http.get("/console", params=view)).text
        second = (await http.get("/console", params={**view, "page": "2"})).text
        on_pages = [
            row[0].split()[0] for row in rows(first, "queue-table") + rows(second, "queue-table")
        ]
        assert len(on_pages) == 56
        link = parse(first).find("a", cls="queue-export").attrs["href"]
        assert link.startswith("/console/queue.csv?") and "page" not in link
        exported = await http.get(link)
        table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert [row[0] for row in table[1:]] == on_pages
        assert table[1][4] == "Ömer Santoso 69"  # by name, Z to A
        # Nothing found: no link to an empty file.
        nothing = (await http.get("/console", params={"q": "zzz"})).text
        assert parse(nothing).find_all("a", cls="queue-export") == []


async def test_the_audit_view_for_admins_filters_and_pages(server: RunningServer) -> None:
    services = server.core.services
    await _file(server, "DEL-00000A", "Sari", date(2026, 12, 1))
    now = services.clock()
    async with services.store.transaction() as tx:
        chat = await tx.get_conversation(Channel.TERMINAL, "desk")
        assert chat is not None
        await tx.insert_attachment(
            token="t1", conversation_id=chat.id, inbound_id=None, media_type="image/png",
            size=1, sha256="0" * 64, now=now,
        )  # fmt: skip
        await tx.link_attachment("t1", "DEL-00000A")
        await tx.record_attachment_view("t1", "ani@jovapos.test", "console", now)  # before 0018
        await tx.record_attachment_view("t1", "ani@jovapos.test", "console", now, "", "10.1.2.3")
        await tx.add_request_event("DEL-00000A", "customer", "downloaded", {"size": 1}, now)
        data = {"size": 1, "address": "10.9.8.7"}
        await tx.add_request_event("DEL-00000A", "customer", "downloaded", data, now)
        for n in range(PAGE_SIZE + 5):
            await tx.add_access_log("login_failed", None, "", f"10.0.0.{n}", now)
    async with _client(server, "ani@jovapos.test") as agent:
        assert (await agent.get("/console/audit")).status_code == 403
    async with _client(server, "boss@jovapos.test") as http:
        first = await http.get("/console/audit")
        assert first.status_code == 200 and _title(first.text).startswith("Audit")
        assert len(rows(first.text, "audit-lines")) == PAGE_SIZE
        older = parse(first.text).find("a", rel="next").attrs["href"]
        second = await http.get(older)
        assert len(rows(second.text, "audit-lines")) > 5  # the rest, and the older changes
        kinds = {}
        for kind in ("proof_view", "download", "account", "login"):
            page = await http.get("/console/audit", params={"kind": kind})
            kinds[kind] = rows(page.text, "audit-lines") if "audit-lines" in page.text else []
        assert [line[3] for line in kinds["proof_view"]] == ["DEL-00000A"] * 2
        assert kinds["proof_view"][0][2] == "ani@jovapos.test"
        # Newest first; a view recorded before addresses were kept says so.
        assert [line[4] for line in kinds["proof_view"]] == ["10.1.2.3", "tidak tercatat"]
        assert [line[3] for line in kinds["download"]] == ["DEL-00000A"] * 2
        assert [line[4] for line in kinds["download"]] == ["10.9.8.7", "tidak tercatat"]
        assert len(kinds["account"]) == 4  # the first admin at start, and the three added
        logins = kinds["login"]
        assert len(logins) == PAGE_SIZE and logins[0][1] == "berhasil masuk"
        assert logins[0][2] == "boss@jovapos.test" and logins[0][4] == "127.0.0.1"
        # Anything else in the URL shows the first page of everything.
        odd = await http.get("/console/audit", params={"kind": "<x>", "page": "99999999999"})
        assert odd.status_code == 200
        switched = await http.get("/console/audit", params={"kind": "login", "lang": "en"})
        assert switched.headers["location"] == "/console/audit?kind=login"


async def test_disable_and_new_password_are_confirmed_and_a_lock_is_lifted(
    server: RunningServer,
) -> None:
    services = server.core.services
    async with services.store.transaction() as tx:  # five failures from elsewhere
        account = await tx.staff_by_email("ani@jovapos.test")
        assert account is not None
        await tx.set_staff_login_state(account.id, LOCK_AFTER, services.clock() + LOCK_FOR)
    async with _client(server, "boss@jovapos.test") as http:
        page = await http.get("/console/staff")
        html = parse(page.text)
        dialogs = html.find_all("dialog", cls="confirm")
        assert len(dialogs) == 3 * 2  # disable and new password, for every other account
        link = html.find("a", **{"data-dialog": dialogs[0].attrs["id"]})
        assert link.attrs["href"].startswith("/console/staff/confirm?")
        assert "Buka kunci" in page.text  # ani is locked
        csrf = _csrf(page.text)
        # Without script: the change asks again on a page of its own.
        asked = await http.post(
            "/console/staff/change",
            data={"csrf": csrf, "email": "ani@jovapos.test", "action": "disable"},
        )
        assert asked.status_code == 303
        confirm = await http.get(asked.headers["location"])
        assert confirm.status_code == 200 and "Nonaktifkan" in _title(confirm.text)
        assert 'name="confirmed" value="yes"' in confirm.text
        async with services.store.transaction(readonly=True) as tx:
            ani = await tx.staff_by_email("ani@jovapos.test")
        assert ani is not None and ani.disabled_at is None  # not yet
        unlocked = await http.post(
            "/console/staff/change",
            data={"csrf": csrf, "email": "ani@jovapos.test", "action": "unlock"},
        )
        assert (unlocked.status_code, unlocked.headers["location"]) == (303, "/console/staff")
        after = await http.get("/console/staff")
        assert notices(after.text)[0][0] == "done" and "Buka kunci" not in after.text
        made = await http.post(
            "/console/staff/change",
            data={
                "csrf": csrf,
                "email": "ani@jovapos.test",
                "action": "reset_password",
                "confirmed": "yes",
            },
        )
        assert made.status_code == 200
        password = parse(made.text).find("code", id="password").text()
        last = rows(after.text, "audit")[0]
        assert last[3] == "ani@jovapos.test" and last[4] == "127.0.0.1"
    async with services.store.transaction(readonly=True) as tx:
        ani = await tx.staff_by_email("ani@jovapos.test")
    assert ani is not None and ani.must_change_password and ani.locked_until is None
    assert len(password) >= 12
