"""The back-office API over real HTTP: bearer tokens, requests, actions, the
access export, and an OpenAPI document that matches."""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path

import httpx
from openapi_spec_validator import validate

from bot.infra.crypto import hash_token
from bot.settings import load_settings
from tests.conftest import CODE, Chat, FakeClock, mailbox_of
from tests.server import PUBLIC_URL, running_server


async def test_api(tmp_path: Path, clock: FakeClock) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), public_url=PUBLIC_URL)
    async with running_server(settings, clock=clock) as server, httpx.AsyncClient() as http:
        engine = server.core.engine
        mailbox_of(engine)
        async with engine.services.store.transaction() as tx:
            await tx.create_api_token("pos-backoffice", hash_token("s3cret-token"), clock())
        chat = Chat(engine, address="siti")
        await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1")
        ref = re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
        base = server.url + "/api/v1"
        auth = {"Authorization": "Bearer s3cret-token"}

        # Every route refuses without a valid token.
        for method, path in (
            ("GET", "/requests"),
            ("GET", f"/requests/{ref}"),
            ("POST", f"/requests/{ref}/verify"),
            ("POST", f"/requests/{ref}/export"),
        ):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
                answer = await http.request(method, base + path, headers=headers)
                assert answer.status_code == 401, (method, path, headers)
                assert answer.headers["www-authenticate"].startswith("Bearer")

        listing = (await http.get(base + "/requests", headers=auth)).json()
        assert [r["reference"] for r in listing] == [ref]
        assert listing[0]["business_days_left"] > 0 and listing[0]["overdue"] is False
        assert (await http.get(base + "/requests?status=bogus", headers=auth)).status_code == 400
        assert (await http.get(base + "/requests/ACC-ZZZZZZ", headers=auth)).status_code == 404

        conflict = await http.post(base + f"/requests/{ref}/verify", headers=auth)
        assert conflict.status_code == 409 and "awaiting_id_proof" in conflict.json()["error"]
        asked = await http.post(
            base + f"/requests/{ref}/ask", headers=auth, json={"message": "Kirim foto KTP"}
        )
        assert asked.status_code == 200 and asked.json()["status"] == "needs_info"
        verified = await http.post(base + f"/requests/{ref}/verify", headers=auth)
        assert verified.json()["status"] == "in_progress"
        bad = await http.post(
            base + f"/requests/{ref}/delay",
            headers=auth,
            json={"reason": "x", "until": "2027-13-01"},
        )
        assert bad.status_code == 400
        # A new due date is at most two years ahead (the fake clock says 2026-11-26).
        for far in ("9999-12-31", "2029-11-26", "2028-11-27", "2026-11-25"):
            refused = await http.post(
                base + f"/requests/{ref}/delay", headers=auth, json={"reason": "x", "until": far}
            )
            assert refused.status_code == 400, far
            assert refused.headers["content-type"] == "application/json"
            assert "at most 2 years ahead" in refused.json()["error"]
        delayed = await http.post(
            base + f"/requests/{ref}/delay",
            headers=auth,
            json={"reason": "Arsip lama", "until": "2027-11-26"},
        )
        assert delayed.status_code == 200 and delayed.json()["due_date"] == "2027-11-26"
        # A far date stored before the limit no longer freezes every listing
        # (business days were counted one by one: 3.3 s per listing).
        async with engine.services.store.transaction() as tx:
            await tx.set_due_date(ref, date(9999, 12, 31), clock())
        began = time.perf_counter()
        listed = await http.get(base + "/requests", headers=auth)
        assert time.perf_counter() - began < 0.5
        assert listed.json()[0]["business_days_left"] > 2_000_000
        done = await http.post(
            base + f"/requests/{ref}/export",
            headers=auth,
            files={"file": ("pos.csv", b"outlet,total\nToko,1\n", "text/csv")},
        )
        assert done.status_code == 200 and done.json()["status"] == "completed"
        detail = (await http.get(base + f"/requests/{ref}", headers=auth)).json()
        assert [(e["actor"], e["kind"]) for e in detail["events"]][1:] == [
            ("api:pos-backoffice", "ask"),
            ("api:pos-backoffice", "verify"),
            ("api:pos-backoffice", "delay"),
            ("api:pos-backoffice", "complete"),
        ]

        spec = (await http.get(base + "/openapi.json")).json()
        validate(spec)
        documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
        assert documented == {
            ("GET", "/requests"),
            ("GET", "/requests/{reference}"),
            ("POST", "/requests/{reference}/{action}"),
            ("POST", "/requests/{reference}/export"),
            ("GET", "/requests/{reference}/notifications"),
            ("POST", "/requests/{reference}/notifications/{id}/retry"),
        }
        assert set(spec["components"]["schemas"]["Request"]["required"]) <= set(detail)


async def test_completing_a_deletion_forgets_its_customer_at_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    from tests.forgetting import assert_forgotten, deletion_in_progress

    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), public_url=PUBLIC_URL)
    async with running_server(settings, clock=clock) as server, httpx.AsyncClient() as http:
        engine = server.core.engine
        mailbox_of(engine)
        async with engine.services.store.transaction() as tx:
            await tx.create_api_token("pos-backoffice", hash_token("s3cret-token"), clock())
        ref = await deletion_in_progress(engine)
        done = await http.post(
            f"{server.url}/api/v1/requests/{ref}/complete",
            headers={"Authorization": "Bearer s3cret-token"},
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed" and done.json()["full_name"] == ""
        assert_forgotten(settings.data_dir, ref)  # no housekeeping ran


async def test_an_answered_request_over_the_api(tmp_path: Path, clock: FakeClock) -> None:
    """``info_received``: listed by its filter, documented, and acted on."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), public_url=PUBLIC_URL)
    async with running_server(settings, clock=clock) as server, httpx.AsyncClient() as http:
        engine = server.core.engine
        mailbox_of(engine)
        async with engine.services.store.transaction() as tx:
            await tx.create_api_token("pos-backoffice", hash_token("s3cret-token"), clock())
        chat = Chat(engine, address="siti")
        await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1")
        ref = re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
        base, auth = server.url + "/api/v1", {"Authorization": "Bearer s3cret-token"}
        asked = await http.post(
            base + f"/requests/{ref}/ask", headers=auth, json={"message": "Nomor HP lama?"}
        )
        assert asked.json()["status"] == "needs_info"
        assert (await http.get(base + "/requests?status=info_received", headers=auth)).json() == []
        await chat.say("0812 1111 2222")
        listed = (await http.get(base + "/requests?status=info_received", headers=auth)).json()
        assert [(r["reference"], r["status"], r["overdue"]) for r in listed] == [
            (ref, "info_received", False)
        ]
        detail = (await http.get(base + f"/requests/{ref}", headers=auth)).json()
        assert detail["events"][-1]["kind"] == "info_provided"
        assert detail["events"][-1]["data"]["to"] == "info_received"
        refused = await http.post(base + f"/requests/{ref}/complete", headers=auth)
        assert refused.status_code == 409 and refused.json()["params"]["status"] == "info_received"
        again = await http.post(
            base + f"/requests/{ref}/ask", headers=auth, json={"message": "Dan email lama?"}
        )
        assert again.status_code == 200 and again.json()["status"] == "needs_info"
        spec = (await http.get(base + "/openapi.json")).json()
        validate(spec)
        status = spec["components"]["schemas"]["Request"]["properties"]["status"]
        assert "info_received" in status["enum"] and "info_received:" in status["description"]
        (parameter,) = spec["paths"]["/requests"]["get"]["parameters"]
        assert "info_received" in parameter["schema"]["enum"]
