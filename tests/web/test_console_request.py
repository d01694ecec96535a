"""The console's request page over HTTP: ID proofs shown only after a
recorded reason (also at the use case's level), the actions from MOVES
grouped and confirmed, the head and facts in words, and the parts a live
update swaps in. Notifications: ``test_console_request_notices``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.requests import actions
from bot.requests.lookup import find_request
from bot.requests.retention import ViewRefused, record_id_proof_view, view_reason
from tests.conftest import PDF, PNG, Chat, FakeClock
from tests.server import RunningServer
from tests.web.console_html import facts, notices, parse, rows, shown_texts, unreadable
from tests.web.request_desk import (
    correction_with_proof,
    csrf,
    deletion_with_two_proofs,
    log_in,
    signed_in,
    staffed_server,
)


@pytest.fixture
async def server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    async with staffed_server(tmp_path / "data", clock) as running:
        yield running


@pytest.fixture
async def ani(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(server, "ani@jovapos.test") as http:
        yield http


async def test_opening_the_page_records_nothing_and_shows_no_file(
    server: RunningServer, ani: httpx.AsyncClient
) -> None:
    services = server.core.services
    reference = await deletion_with_two_proofs(server.core.engine)
    page = await ani.get(f"/console/requests/{reference}")
    root = parse(page.text)
    assert not root.find_all("img") or all("proof" not in i.classes for i in root.find_all("img"))
    assert "/proofs/1?" not in page.text and "/proofs/2?" not in page.text
    # Every file the request has had, each behind its own reveal form.
    forms = root.find_all("form", cls="reveal")
    assert [f.attrs["action"] for f in forms] == [
        f"/console/requests/{reference}/proofs/1/reveal",
        f"/console/requests/{reference}/proofs/2/reveal",
    ]
    for form in forms:
        assert "required" in form.find("select", name="reason").attrs
    record = await find_request(services.store, reference)
    assert all(not a.views for a in record.attachments)
    # The file's address without a grant, with a forged or another file's grant: nothing.
    assert (await ani.get(f"/console/requests/{reference}/proofs/1")).status_code == 404
    forged = {"until": "99999999999", "grant": "0" * 32}
    assert (
        await ani.get(f"/console/requests/{reference}/proofs/1", params=forged)
    ).status_code == 404
    record = await find_request(services.store, reference)
    assert all(not a.views for a in record.attachments)


async def test_a_proof_is_shown_after_its_view_and_reason_are_recorded(
    server: RunningServer, ani: httpx.AsyncClient, clock: FakeClock
) -> None:
    services = server.core.services
    catalogue = services.catalogue
    reference = await deletion_with_two_proofs(server.core.engine)
    page = await ani.get(f"/console/requests/{reference}")
    token = csrf(page.text)
    # No reason: refused in the reader's words, nothing recorded, the note kept.
    refused = await ani.post(
        f"/console/requests/{reference}/proofs/2/reveal",
        data={"csrf": token, "reason": "other", "note": "   "},
    )
    assert refused.status_code == 400
    text = catalogue.text("id", "console.problem.view_reason_missing")
    assert notices(refused.text) == [("error", text)]
    kept = parse(refused.text).find("form", action=f"/console/requests/{reference}/proofs/2/reveal")
    assert kept.find("option", value="other").attrs.get("selected") is not None
    too_long = await ani.post(
        f"/console/requests/{reference}/proofs/2/reveal",
        data={"csrf": token, "reason": "other", "note": "x" * 201},
    )
    assert too_long.status_code == 400
    assert kept.find("input", name="note").attrs["value"] == "   "  # as typed
    record = await find_request(services.store, reference)
    assert all(not a.views for a in record.attachments)

    # A reason from the list: recorded, then the page carries the image.
    shown = await ani.post(
        f"/console/requests/{reference}/proofs/1/reveal",
        data={"csrf": token, "reason": "check_identity"},
    )
    assert shown.status_code == 303
    location = shown.headers["location"]
    assert location.startswith(f"/console/requests/{reference}?proof=1&")
    record = await find_request(services.store, reference)
    (view,) = record.attachments[0].views
    assert (view.viewer, view.purpose, view.reason) == (
        "ani@jovapos.test",
        "console",
        "check_identity",
    )
    assert not record.attachments[1].views
    assert record.events[-1].kind == "id_proof_viewed"
    assert record.events[-1].actor == "staff:ani@jovapos.test"
    page = await ani.get(location)
    image = parse(page.text).find("img", cls="proof")
    served = await ani.get(image.attrs["src"])
    assert served.status_code == 200 and served.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "no-store"
    assert served.headers["content-disposition"].startswith("inline;")
    assert "sandbox" in served.headers["content-security-policy"]
    item = parse(page.text).find("li", id="proof-1").text()
    assert "Mencocokkan identitas dengan permintaan" in item and "Anda (ani@jovapos.test)" in item
    history = parse(page.text).find("section", id="request-history").text()
    assert catalogue.text("id", "console.event.id_proof_viewed") in history
    # Another session cannot use that address.
    async with httpx.AsyncClient(base_url=server.url) as boss:
        await log_in(boss, "boss@jovapos.test")
        assert (await boss.get(image.attrs["src"])).status_code == 404

    # A reason of one's own, for the PDF: recorded as typed, served as a download.
    shown = await ani.post(
        f"/console/requests/{reference}/proofs/2/reveal",
        data={"csrf": token, "reason": "other", "note": "Permintaan polisi  no. 12"},
    )
    page = await ani.get(shown.headers["location"])
    link = parse(page.text).find("li", id="proof-2").find("a")
    served = await ani.get(link.attrs["href"])
    assert served.content == PDF
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"] == (f'attachment; filename="{reference}-2.pdf"')
    record = await find_request(services.store, reference)
    assert record.attachments[1].views[0].reason == "Permintaan polisi no. 12"
    assert "Permintaan polisi no. 12" in parse(page.text).find("li", id="proof-2").text()

    # The grant lasts ten minutes: then the page hides the file again.
    clock.advance(minutes=11)
    assert (await ani.get(link.attrs["href"])).status_code == 404
    later = await ani.get(shown.headers["location"])
    assert not parse(later.text).find("li", id="proof-2").find_all("a")
    query = parse_qs(urlsplit(shown.headers["location"]).query)
    assert set(query) == {"proof", "until", "grant"}


async def test_a_proof_missing_from_storage_is_said_so_not_a_server_error(
    server: RunningServer, ani: httpx.AsyncClient
) -> None:
    """The database names a file the disk no longer holds (restored from an
    old backup, a disk fault): the reveal is recorded, the file's address
    answers a page saying so in the staff's words, not a 500."""
    services = server.core.services
    reference = await deletion_with_two_proofs(server.core.engine)
    record = await find_request(services.store, reference)
    services.blobs.delete(record.attachments[0].token)
    page = await ani.get(f"/console/requests/{reference}")
    shown = await ani.post(
        f"/console/requests/{reference}/proofs/1/reveal",
        data={"csrf": csrf(page.text), "reason": "audit"},
    )
    page = await ani.get(shown.headers["location"])
    image = parse(page.text).find("img", cls="proof")
    gone = await ani.get(image.attrs["src"])
    assert gone.status_code == 404
    said = services.catalogue.text("id", "console.problem.file_unreadable")
    assert said in gone.text
    record = await find_request(services.store, reference)
    assert len(record.attachments[0].views) == 1
    # The audit view says who opened it and from where.
    async with signed_in(server, "boss@jovapos.test") as boss:
        audit = await boss.get("/console/audit", params={"kind": "proof_view"})
        (line,) = rows(audit.text, "audit-lines")
        assert line[2:5] == ["ani@jovapos.test", reference, "127.0.0.1"]


async def test_the_agent_who_asked_sees_the_answer_in_the_inbox(
    server: RunningServer, ani: httpx.AsyncClient
) -> None:
    """info_received, in the inbox of the agent whose ask was answered (and
    not in a colleague's), linking to the request, until staff act on it."""
    engine = server.core.engine
    reference = await correction_with_proof(engine)
    await actions.ask(engine.services, reference, "staff:ani@jovapos.test", "Alamat lama?")
    assert "answered-asks" not in (await ani.get("/console/inbox")).text
    await Chat(engine, address="andi").say("Jl. Merdeka 1")
    inbox = parse((await ani.get("/console/inbox")).text).find("div", cls="answered-asks")
    assert inbox.find("a").attrs["href"] == f"/console/requests/{reference}"
    assert "Andi Wijaya" in inbox.text() and "(1)" in inbox.text()
    async with signed_in(server, "boss@jovapos.test") as boss:
        assert "answered-asks" not in (await boss.get("/console/inbox")).text
    await actions.verify(engine.services, reference, "staff:ani@jovapos.test")
    assert "answered-asks" not in (await ani.get("/console/inbox")).text


async def test_view_recording_at_use_case_level(server: RunningServer) -> None:
    services = server.core.services
    reference = await deletion_with_two_proofs(server.core.engine)
    record = await find_request(services.store, reference)
    assert view_reason("audit", "ignored") == "audit"
    assert view_reason("", "  Audit   OJK ") == "Audit OJK"
    for choice, typed, key in (
        ("", "", "view_reason_missing"),
        ("x", "y" * 201, "view_reason_long"),
    ):
        with pytest.raises(ViewRefused) as refused:
            view_reason(choice, typed)
        assert refused.value.key == key
    with pytest.raises(ViewRefused) as refused:
        await record_id_proof_view(services, reference, "not-a-token", "ani", "console", "audit")
    assert refused.value.key == "no_proof"
    token = record.attachments[1].token
    await record_id_proof_view(services, reference, token, "ani@jovapos.test", "console", "audit")
    record = await find_request(services.store, reference)
    assert [(v.viewer, v.purpose, v.reason) for v in record.attachments[1].views] == [
        ("ani@jovapos.test", "console", "audit")
    ]
    assert record.events[-1].data == {"proof": 2, "reason_code": "audit", "via": "console"}
    typed = "Polisi minta data Sekar Ayu"
    await record_id_proof_view(services, reference, token, "ani@jovapos.test", "console", typed)
    assert (await find_request(services.store, reference)).events[-1].data["reason"] == typed
    # Forgetting the customer keeps who looked and the listed reasons, not typed words.
    await actions.complete(services, reference, "staff:ani@jovapos.test")
    record = await find_request(services.store, reference)
    assert record.forgotten
    assert [(v.viewer, v.reason) for v in record.attachments[1].views] == [
        ("ani@jovapos.test", "audit"),
        ("ani@jovapos.test", ""),
    ]
    assert all("Sekar" not in str(e.data) for e in record.events)


async def test_actions_are_grouped_and_what_ends_a_request_is_confirmed(
    server: RunningServer, ani: httpx.AsyncClient
) -> None:
    services = server.core.services
    catalogue = services.catalogue
    reference = await deletion_with_two_proofs(server.core.engine)
    page = await ani.get(f"/console/requests/{reference}")
    root = parse(page.text)
    section = root.find("section", id="request-actions")
    groups = {
        next(c for c in g.classes if c.startswith("action-group-")): [
            a.attrs["id"] for a in g.find_all("div", cls="action")
        ]
        for g in section.find_all("div", cls="action-group")
    }
    assert groups == {
        "action-group-forward": ["act-complete"],
        "action-group-wait": ["act-ask", "act-delay"],
        "action-group-end": ["act-reject", "act-cancel"],
    }
    for action in ("complete", "reject", "cancel"):
        block = section.find("div", id=f"act-{action}")
        dialog = block.find("dialog")
        assert "btn-danger" in block.find("button", cls="opens-dialog").classes
        assert "required" in dialog.find("input", name="sure").attrs
        assert "tidak dapat dibatalkan" in dialog.find("p", cls="consequence").text()
    complete = section.find("div", id="act-complete").find("p", cls="consequence").text()
    assert complete == catalogue.text("id", "console.request.consequence.complete_deletion")
    for action in ("ask", "delay"):
        assert not section.find("div", id=f"act-{action}").find_all("dialog")
    # Beside every box whose words the customer reads: the customer's language.
    reads = catalogue.text("id", "console.request.customer_reads").format(
        language="Bahasa Indonesia"
    )
    for action, name in (("ask", "message"), ("reject", "reason"), ("delay", "reason")):
        block = section.find("div", id=f"act-{action}")
        box = block.find(None, name=name)
        assert box.attrs.get("aria-describedby") == f"act-{action}-{name}-reads", action
        assert block.find("span", id=f"act-{action}-{name}-reads").text() == reads
    picker = section.find("input", name="until")
    first, last = actions.delay_window(services)
    assert (picker.attrs["min"], picker.attrs["max"]) == (first.isoformat(), last.isoformat())

    # Without its confirmation an act that ends the request is refused, as typed.
    refused = await ani.post(
        f"/console/requests/{reference}/reject",
        data={"csrf": csrf(page.text), "reason": "Data tidak cocok"},
    )
    assert refused.status_code == 400
    assert notices(refused.text) == [
        ("error", catalogue.text("id", "console.problem.confirm_missing"))
    ]
    again = parse(refused.text).find("div", id="act-reject")
    assert again.find("textarea", name="reason").text() == "Data tidak cocok"
    assert "refused" in again.find("dialog").classes  # request.js opens it at once
    assert (await find_request(services.store, reference)).status.value == "in_progress"
    # The form's address opened as a page leads to the request.
    back = await ani.get(f"/console/requests/{reference}/reject")
    assert back.status_code == 303 and back.headers["location"] == f"/console/requests/{reference}"


async def test_actions_come_from_moves_so_a_new_one_works_unchanged(
    server: RunningServer, ani: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move added to ``MOVES`` with its use case in ``actions`` gets its
    form, its group and its dispatch without a change to the page."""
    from bot.requests import lifecycle
    from flows.types import RequestStatus

    calls = []

    async def nudge(services: object, reference: str, actor: str, message: str | None) -> None:
        calls.append((reference, actor, message))

    moves = dict(lifecycle.MOVES)
    moves["nudge"] = ((RequestStatus.VERIFYING,), RequestStatus.NEEDS_INFO)
    monkeypatch.setattr(lifecycle, "MOVES", moves)
    monkeypatch.setattr("bot.web.console.request_view.MOVES", moves)
    monkeypatch.setattr("bot.web.console.requests.MOVES", moves)
    monkeypatch.setattr(actions, "nudge", nudge, raising=False)
    reference = await correction_with_proof(server.core.engine)
    page = await ani.get(f"/console/requests/{reference}")
    block = parse(page.text).find("div", id="act-nudge")
    assert block.find("textarea", name="message").attrs.get("required") is not None
    wait = parse(page.text).find("div", cls="action-group-wait")
    assert "act-nudge" in [d.attrs.get("id") for d in wait.find_all("div", cls="action")]
    done = await ani.post(
        f"/console/requests/{reference}/nudge",
        data={"csrf": csrf(page.text), "message": "Halo"},
    )
    assert done.status_code == 303
    assert calls == [(reference, "staff:ani@jovapos.test", "Halo")]


async def test_a_change_made_elsewhere_is_in_the_live_parts(
    server: RunningServer, ani: httpx.AsyncClient
) -> None:
    """What live.js fetches (``X-Live: 1``) after a change made elsewhere: the
    new status in the head, the act gone from the actions, the event in the
    history."""
    services = server.core.services
    catalogue = services.catalogue
    reference = await correction_with_proof(server.core.engine)
    before = parse((await ani.get(f"/console/requests/{reference}")).text)
    assert before.find_all("div", id="act-verify")
    await actions.cancel(services, reference, "customer")
    after = parse((await ani.get(f"/console/requests/{reference}", headers={"X-Live": "1"})).text)
    for part in ("request-head", "request-facts", "request-proofs", "request-actions"):
        assert "data-live" in after.find(id=part).attrs, part
    assert catalogue.text("id", "console.state.cancelled") in after.find(id="request-head").text()
    assert not after.find_all("div", cls="action")
    assert catalogue.text("id", "console.no_actions") in after.find(id="request-actions").text()
    history = after.find(id="request-history").text()
    assert catalogue.text("id", "console.event.cancel") in history
    assert catalogue.text("id", "console.actor.customer") in history


async def test_the_head_and_facts_read_as_words_in_both_languages(
    server: RunningServer, clock: FakeClock
) -> None:
    services = server.core.services
    reference = await correction_with_proof(server.core.engine)
    for lang, due, fact in (
        ("id", "12 Januari 2027", ("Data yang salah", "Data usaha atau toko")),
        ("en", "12 January 2027", ("Wrong data", "Business or store details")),
    ):
        async with httpx.AsyncClient(base_url=server.url) as http:
            await log_in(http, "ani@jovapos.test", lang)
            page = await http.get(f"/console/requests/{reference}")
            head = parse(page.text).find(id="request-head").text()
            assert due in head
            shown = facts(page.text)
            assert shown[fact[0]] == fact[1]
            texts = shown_texts(page.text)
            assert unreadable(texts, lang, services.catalogue) == []
    clock.advance(days=60)  # past the due date: overdue, with the days past
    async with httpx.AsyncClient(base_url=server.url) as http:
        await log_in(http, "ani@jovapos.test")
        head = parse((await http.get(f"/console/requests/{reference}")).text).find(
            id="request-head"
        )
        assert services.catalogue.text("id", "console.overdue") in head.text()
        assert "lewat" in head.text() and "-" not in head.text().replace(reference, "")
    assert PNG  # the proof Andi sent is a JPEG; PNG is Sekar's


async def test_the_actions_shown_are_those_moves_allows_in_each_status(
    server: RunningServer, ani: httpx.AsyncClient
) -> None:
    """Walked through its statuses, a request offers exactly the acts
    ``MOVES`` allows from each, and none once it is closed."""
    from bot.requests.lifecycle import MOVES

    services = server.core.services
    reference = await correction_with_proof(server.core.engine)
    steps = [
        ("ask", {"message": "Foto buram"}),
        ("verify", {}),
        ("delay", {"reason": "Arsip", "until": "2027-03-01"}),
        ("reject", {"reason": "Bukan pemilik akun", "sure": "on"}),
    ]
    for action, form in [*steps, (None, {})]:
        record = await find_request(services.store, reference)
        page = await ani.get(f"/console/requests/{reference}")
        shown = [
            d.attrs["id"].removeprefix("act-")
            for d in parse(page.text).find(id="request-actions").find_all("div", cls="action")
        ]
        allowed = [a for a, (sources, _) in MOVES.items() if record.status in sources]
        assert sorted(shown) == sorted(allowed), record.status
        if action is None:
            assert record.status.value == "rejected" and shown == []
            break
        assert action in shown
        done = await ani.post(
            f"/console/requests/{reference}/{action}", data={"csrf": csrf(page.text), **form}
        )
        assert done.status_code == 303, (action, done.text[:300])
