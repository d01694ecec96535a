"""The request page's notifications over HTTP: their delivery state in words,
a failed one sent again (also at the use case's level), and the live mark
that makes an open page follow them."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.delivery.notifications import RetryRefused, retry_notification
from bot.infra.crypto import hash_token
from bot.requests import actions
from bot.requests.lookup import find_request, notifications_of
from tests.conftest import FakeClock, console_script, database_env
from tests.raw import raw
from tests.server import RunningServer
from tests.web.console_html import notices, parse
from tests.web.request_desk import (
    correction_with_proof,
    csrf,
    deletion_with_two_proofs,
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


async def _fail(server: RunningServer, reference: str, kind: str, error: str) -> int:
    """Mark the request's ``kind`` notice given up with ``error``; its id."""
    db = raw(server.core.services.store)
    async with db.execute(
        "SELECT n.id FROM notifications n JOIN requests r ON r.id = n.request_id "
        "WHERE r.reference = ? AND n.kind = ? ORDER BY n.id LIMIT 1",
        (reference, kind),
    ) as cur:
        (notice_id,) = await cur.fetchone()
    await db.execute(
        "UPDATE notifications SET status = 'given_up', attempts = 3, last_error = ? WHERE id = ?",
        (error, notice_id),
    )
    await db.commit()
    return int(notice_id)


async def test_notifications_show_their_delivery_state_and_a_failed_one_is_sent_again(
    server: RunningServer, ani: httpx.AsyncClient
) -> None:
    services = server.core.services
    catalogue = services.catalogue
    reference = await correction_with_proof(server.core.engine)
    await actions.verify(services, reference, "staff:boss@jovapos.test")
    failed = await _fail(server, reference, "in_progress", "DeliveryRefused")
    db = raw(services.store)
    await db.execute(
        "UPDATE notifications SET status = 'sent', provider_id = 'SM1', sent_at = created_at "
        "WHERE kind = 'receipt'"
    )
    await db.execute(
        "INSERT INTO delivery_events (provider_id, status, received_at) "
        "VALUES ('SM1', 'delivered', '2026-11-26T03:00:00+00:00')"
    )
    await db.commit()
    page = await ani.get(f"/console/requests/{reference}")
    items = [li.text() for li in parse(page.text).find("ul", id="notifications").find_all("li")]
    assert len(items) == 2
    receipt, started = items
    assert catalogue.text("id", "console.request.notice_state.delivered") in receipt
    assert catalogue.text("id", "console.request.notice_state.failed") in started
    assert catalogue.text("id", "console.request.notice_error.DeliveryRefused") in started
    retry_path = f"/console/requests/{reference}/notifications/{failed}/retry"
    (retry_form,) = parse(page.text).find_all("form", cls="retry")
    assert retry_form.attrs["action"] == retry_path

    done = await ani.post(retry_path, data={"csrf": csrf(page.text)})
    assert done.status_code == 303 and done.headers["location"] == f"/console/requests/{reference}"
    page = await ani.get(done.headers["location"])
    assert notices(page.text) == [("done", catalogue.text("id", "console.done"))]
    assert not parse(page.text).find_all("form", cls="retry")  # retried: no second button
    items = [li.text() for li in parse(page.text).find("ul", id="notifications").find_all("li")]
    assert catalogue.text("id", "console.request.notice_state.waiting_customer") in items[-1]
    history = parse(page.text).find("section", id="request-history").text()
    assert catalogue.text("id", "console.event.notification_retried") in history
    assert "Anda (ani@jovapos.test)" in history
    record = await find_request(services.store, reference)
    assert (record.events[-1].actor, record.events[-1].kind) == (
        "staff:ani@jovapos.test",
        "notification_retried",
    )
    again = await ani.post(retry_path, data={"csrf": csrf(page.text)})
    assert again.headers["location"].endswith("?error=already_retried")
    shown = await ani.get(again.headers["location"])
    assert notices(shown.text) == [
        ("error", catalogue.text("id", "console.problem.already_retried"))
    ]


async def test_retry_at_use_case_level(server: RunningServer) -> None:
    services = server.core.services
    reference = await correction_with_proof(server.core.engine)
    other = await deletion_with_two_proofs(server.core.engine)
    await actions.verify(services, reference, "staff:boss@jovapos.test")
    async with services.store.transaction(readonly=True) as tx:
        shown = await tx.request_notifications(reference)
    receipt = shown[0].id
    for notice, where, key in (
        (receipt, reference, "not_failed"),  # queued, not failed
        (receipt, other, "no_notification"),  # another request's
        (10**9, reference, "no_notification"),
    ):
        with pytest.raises(RetryRefused) as refused:
            await retry_notification(services, where, notice, "staff:ani@jovapos.test")
        assert refused.value.key == key
    failed = await _fail(server, reference, "receipt", "undelivered")
    await retry_notification(services, reference, failed, "staff:ani@jovapos.test")
    with pytest.raises(RetryRefused) as refused:
        await retry_notification(services, reference, failed, "staff:ani@jovapos.test")
    assert refused.value.key == "already_retried"
    async with services.store.transaction(readonly=True) as tx:
        after = await tx.request_notifications(reference)
    retry = after[-1]
    assert (retry.kind, retry.channel, retry.status) == ("receipt", "email", "pending")
    assert retry.key.endswith("~retry")
    # A forgotten customer's address is gone: nothing to send again to.
    db = raw(services.store)
    await db.execute("UPDATE notifications SET address = '' WHERE id = ?", (failed,))
    await db.execute("DELETE FROM notifications WHERE id = ?", (retry.id,))
    await db.commit()
    with pytest.raises(RetryRefused) as refused:
        await retry_notification(services, reference, failed, "staff:ani@jovapos.test")
    assert refused.value.key == "no_address"


async def test_a_failed_notification_is_sent_again_over_the_api_and_the_command_line(
    server: RunningServer, tmp_path: Path
) -> None:
    """The same use case as the console's button: listed with its state,
    retried once, refused in the documented JSON after that."""
    services = server.core.services
    reference = await correction_with_proof(server.core.engine)
    other = await deletion_with_two_proofs(server.core.engine)
    failed = await _fail(server, reference, "receipt", "undelivered")
    async with services.store.transaction() as tx:
        await tx.create_api_token("pos", hash_token("api-token"), services.clock())
    auth = {"Authorization": "Bearer api-token"}
    async with httpx.AsyncClient(base_url=server.url + "/api/v1", headers=auth) as api:
        listed = (await api.get(f"/requests/{reference.lower()}/notifications")).json()
        assert [(n["id"], n["kind"], n["status"]) for n in listed] == [
            (failed, "receipt", "given_up")
        ]
        assert listed[0]["last_error"] == "undelivered" and listed[0]["attempts"] == 3
        retried = await api.post(f"/requests/{reference}/notifications/{failed}/retry")
        assert retried.status_code == 200
        assert [(n["kind"], n["status"]) for n in retried.json()] == [
            ("receipt", "given_up"),
            ("receipt", "pending"),
        ]
        again = await api.post(f"/requests/{reference}/notifications/{failed}/retry")
        assert again.status_code == 409 and again.json()["key"] == "already_retried"
        elsewhere = await api.post(f"/requests/{other}/notifications/{failed}/retry")
        assert elsewhere.status_code == 404 and elsewhere.json()["key"] == "no_notification"
        missing = await api.get("/requests/DEL-000000/notifications")
        assert missing.status_code == 404
    record = await find_request(services.store, reference)
    assert (record.events[-1].actor, record.events[-1].kind) == ("api:pos", "notification_retried")

    # The command line, on the same database while the server runs.
    (receipt,) = [
        n for n in await notifications_of(services.store, other) if n["kind"] == "receipt"
    ]
    await _fail(server, other, "receipt", "DeliveryRefused")
    data_dir = str(server.core.settings.data_dir)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [console_script(), "--data-dir", data_dir, "requests", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("PRIVACYBOT_")}
            | database_env(Path(data_dir)),
        )

    table = cli("notifications", other)
    assert table.returncode == 0, table.stderr
    assert "given_up" in table.stdout and "DeliveryRefused" in table.stdout
    done = cli("retry", other, str(receipt["id"]), "--by", "ani")
    assert done.returncode == 0, done.stderr
    assert "queued again" in done.stdout
    refused = cli("retry", other, str(receipt["id"]))
    assert refused.returncode != 0 and "sent again already" in refused.stderr
    shown = json.loads(cli("notifications", other, "--json").stdout)
    assert [n["status"] for n in shown if n["kind"] == "receipt"] == ["given_up", "pending"]
    record = await find_request(services.store, other)
    assert (record.events[-1].actor, record.events[-1].kind) == (
        "staff:ani",
        "notification_retried",
    )


async def test_a_notification_leaving_the_queue_moves_the_live_mark(server: RunningServer) -> None:
    """An open request page follows its notifications too: a send, a failure
    given up, a provider's report each move the mark the live streams compare."""
    services = server.core.services
    reference = await correction_with_proof(server.core.engine)

    async def mark() -> str:
        async with services.store.transaction(readonly=True) as tx:
            return await tx.activity_mark()

    async with services.store.transaction(readonly=True) as tx:
        (receipt,) = await tx.request_notifications(reference)
    before = await mark()
    async with services.store.transaction() as tx:
        await tx.notification_sent(receipt.id, "SM-live", services.clock())
    sent = await mark()
    assert sent != before
    async with services.store.transaction() as tx:
        await tx.record_delivery("SM-live", "delivered", None, services.clock())
    assert await mark() != sent
