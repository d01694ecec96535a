"""One act, three doors: the command line, the console and the API call the
same use cases (``bot.requests.actions``), so each staff act leaves the same
history and queues the same notices whichever door staff used, and a refusal
is the same refusal, worded by each door for its reader.

Every door works on its own requests, filed alike by customers on one running
server; the command line runs in-process (``bot.cli.main``) on the same data
folder, as staff would run it next to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import cli
from bot.conversation.engine import Engine
from bot.infra.catalogue import Catalogue
from bot.infra.crypto import hash_token
from bot.requests.lookup import find_request
from bot.settings import load_settings
from bot.staff.accounts import add_staff
from tests.conftest import CODE, PNG, Chat, file_of, mailbox_of
from tests.raw import sql
from tests.server import RunningServer, running_server

PASSWORD = "kata-sandi-yang-panjang"
TOKEN = "doors-token"
EXPORT = ("pos.csv", b"outlet,total\nToko Sari,125000\n")
# (which of the door's requests, act, what staff give); "until" is filled in
# per request: 30 days after its due date.
SCRIPT: list[tuple[str, str, dict[str, str]]] = [
    ("access", "ask", {"message": "Mohon kirim foto KTP yang lebih jelas"}),
    ("access", "verify", {}),
    ("access", "delay", {"reason": "Data di sistem kasir lama", "until": ""}),
    ("access", "complete", {"export": "yes"}),
    ("deletion", "verify", {}),
    ("deletion", "complete", {}),
    ("restriction", "reject", {"reason": "Identitas tidak cocok"}),
    ("waiting", "cancel", {}),
]
STAFF_EVENTS = {
    "access": ["ask", "verify", "delay", "complete"],
    "deletion": ["verify", "complete"],
    "restriction": ["reject"],
    "waiting": ["cancel"],
}
STAFF_NOTICES = {  # what staff acts queue, after the customer's receipt
    "access": ["needs_info", "in_progress", "delayed", "completed"],
    "deletion": ["in_progress", "completed"],
    "restriction": ["rejected"],
    "waiting": [],
}


@dataclass
class Desk:
    server: RunningServer
    data_dir: Path
    tmp_path: Path

    @property
    def engine(self) -> Engine:
        return self.server.core.engine


@pytest.fixture
async def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desk]:
    data_dir = tmp_path / "data"
    # The command line reads the environment and ./.env: neither may differ
    # from the server's settings here.
    for name in [n for n in os.environ if n.startswith("PRIVACYBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    # In-process: the command line's logging setup would stay on this process.
    monkeypatch.setattr(cli, "configure_logging", lambda level, stream: None)
    # http: the console's cookies are Secure only behind https.
    settings = load_settings(environ={}, data_dir=str(data_dir), public_url="http://127.0.0.1")
    with _umask_kept():
        async with running_server(settings) as server:
            engine = server.core.engine
            mailbox_of(engine)
            await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)
            async with engine.services.store.transaction() as tx:
                await tx.create_api_token("pos", hash_token(TOKEN), engine.services.clock())
            yield Desk(server, data_dir, tmp_path)


@contextlib.contextmanager
def _umask_kept() -> Iterator[None]:
    """``cli.main`` sets the process's umask for its files: put it back."""
    before = os.umask(0o077)
    os.umask(before)
    try:
        yield
    finally:
        os.umask(before)


async def _file(engine: Engine, door: str) -> dict[str, str]:
    """The door's four requests, filed by four customers: an access request
    and a deletion with ID proof, a restriction with ID proof, and an access
    request still waiting for its ID proof."""
    found: dict[str, str] = {}
    scripts: dict[str, tuple[list[str], bool, str]] = {
        "access": (["2", "Dewi Lestari", f"dewi.{door}@example.com", CODE, "lewati"], True, "ACC"),
        "deletion": (
            ["1", "1", "Sekar Ayu", f"sekar.{door}@example.com", CODE, "Pindah kota"],
            True,
            "DEL",
        ),
        "restriction": (
            ["4", "Siti Aminah", f"siti.{door}@example.com", CODE, "1", "Tanpa promosi"],
            True,
            "RES",
        ),
        "waiting": (
            ["2", "Rudi Hartono", f"rudi.{door}@example.com", CODE, "lewati", "nanti", "1"],
            False,
            "ACC",
        ),
    }
    for name, (lines, proof, prefix) in scripts.items():
        chat = Chat(engine, address=f"{door}-{name}")
        email = lines[lines.index(CODE) - 1]
        await chat.script(*lines[: lines.index(CODE)])
        # The code mailed to this customer (notices of other doors' acts go by mail too).
        await chat.script(mailbox_of(engine).latest_code(email), *lines[lines.index(CODE) + 1 :])
        if proof:
            await chat.say("", file_of(PNG))
            await chat.say("1")
        match = re.search(rf"{prefix}-[0-9A-Z]{{6}}", chat.text)
        assert match, (door, name, chat.text)
        found[name] = match.group(0)
    return found


Act = Callable[[str, str, dict[str, str]], Awaitable[None]]


def _cli_door(desk: Desk) -> Act:
    async def act(reference: str, action: str, given: dict[str, str]) -> None:
        args = ["--data-dir", str(desk.data_dir), "requests", action, reference, "--by", "ani"]
        if "message" in given:
            args += ["--message", given["message"]]
        if "reason" in given:
            args += ["--reason", given["reason"]]
        if "until" in given:
            args += ["--until", given["until"]]
        if "export" in given:
            export = desk.tmp_path / EXPORT[0]
            export.write_bytes(EXPORT[1])
            args += ["--export", str(export)]
        assert await asyncio.to_thread(cli.main, args) == 0, (action, reference)

    return act


async def _console_door(desk: Desk, http: httpx.AsyncClient) -> Act:
    await _log_in(http, "ani@jovapos.test")

    async def act(reference: str, action: str, given: dict[str, str]) -> None:
        page = await http.get(f"/console/requests/{reference}")
        form = {"csrf": _csrf(page.text), "sure": "on"}
        form.update({k: v for k, v in given.items() if k != "export"})
        files = [("export", (*EXPORT, "text/csv"))] if "export" in given else None
        answer = await http.post(f"/console/requests/{reference}/{action}", data=form, files=files)
        assert answer.status_code == 303, (action, reference)
        # Done: back to the request's page, the success in a one-time flash.
        assert answer.headers["location"] == f"/console/requests/{reference}", answer.headers
        assert "pb_flash=" in answer.headers["set-cookie"]

    return act


def _api_door(desk: Desk, http: httpx.AsyncClient) -> Act:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def act(reference: str, action: str, given: dict[str, str]) -> None:
        base = f"/api/v1/requests/{reference}"
        if "export" in given:
            answer = await http.post(f"{base}/export", headers=auth, files={"file": EXPORT})
        else:
            answer = await http.post(f"{base}/{action}", headers=auth, json=given)
        assert answer.status_code == 200, (action, reference, answer.text)

    return act


async def _log_in(http: httpx.AsyncClient, email: str) -> None:
    form = await http.get("/console/login")
    answer = await http.post(
        "/console/login", data={"csrf": _csrf(form.text), "email": email, "password": PASSWORD}
    )
    assert answer.status_code == 303


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def _run(desk: Desk, door: str, act: Act) -> dict[str, str]:
    references = await _file(desk.engine, door)
    for name, action, given in SCRIPT:
        given = dict(given)
        if "until" in given:
            record = await find_request(desk.engine.services.store, references[name])
            given["until"] = (record.due_date + timedelta(days=30)).isoformat()
        await act(references[name], action, given)
    return references


def _outcome(desk: Desk, references: dict[str, str]) -> dict[str, Any]:
    """What the acts left, with who did them reduced to customer or staff: the
    history (kinds and the fields each event recorded), the notices queued
    (kind and channel), the status and whether the customer was forgotten."""
    database = desk.data_dir / "privacybot.db"
    outcome = {}
    for name, reference in references.items():
        ((request_id, status, email),) = sql(
            database, "SELECT id, status, email FROM requests WHERE reference = ?", (reference,)
        )
        events = sql(
            database,
            "SELECT actor, kind, data FROM request_events WHERE request_id = ? ORDER BY id",
            (request_id,),
        )
        notices = sql(
            database,
            "SELECT kind, channel FROM notifications WHERE request_id = ? ORDER BY id",
            (request_id,),
        )
        outcome[name] = {
            "status": status,
            "forgotten": email.startswith("hmac:"),
            "events": [(_who(actor), kind, _fields(data)) for actor, kind, data in events],
            "notices": notices,
        }
    return outcome


def _who(actor: str) -> str:
    """``staff:ani``, ``staff:ani@jovapos.test`` and ``api:pos`` are all staff."""
    return "staff" if actor.startswith(("staff:", "api:")) else actor


def _fields(data: str) -> list[str]:
    return sorted(json.loads(data or "{}"))


async def test_every_door_leaves_the_same_history_and_notices(desk: Desk) -> None:
    async with (
        httpx.AsyncClient(base_url=desk.server.url) as console,
        httpx.AsyncClient(base_url=desk.server.url) as api,
    ):
        doors = {
            "cli": _cli_door(desk),
            "console": await _console_door(desk, console),
            "api": _api_door(desk, api),
        }
        outcomes = {}
        for door, act in doors.items():
            outcomes[door] = _outcome(desk, await _run(desk, door, act))
    assert outcomes["console"] == outcomes["cli"]
    assert outcomes["api"] == outcomes["cli"]
    # And what they all did is what the acts mean.
    done = outcomes["cli"]
    assert {name: o["status"] for name, o in done.items()} == {
        "access": "completed",
        "deletion": "completed",
        "restriction": "rejected",
        "waiting": "cancelled",
    }
    assert [name for name, o in done.items() if o["forgotten"]] == ["deletion"]
    for name, kinds in STAFF_EVENTS.items():
        assert [kind for who, kind, _ in done[name]["events"] if who == "staff"] == kinds, name
        queued = [kind for kind, _ in done[name]["notices"]]
        assert queued[0] == "receipt"
        assert list(dict.fromkeys(queued[1:])) == STAFF_NOTICES[name], name
    delay = next(e for e in done["access"]["events"] if e[1] == "delay")
    assert delay[2] == ["from", "previous_due_date", "reason", "until"]


async def test_a_refusal_is_the_same_refusal_at_every_door(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    """A blank reason is refused by its key everywhere: the command line says
    it in English from the catalogue (exit 1), the API returns the key with
    the English text (409), the console shows the key's text on the form's page."""
    references = await _file(desk.engine, "refusals")
    reference = references["restriction"]
    catalogue = Catalogue.load()
    english = catalogue.refusal("en", "reason_missing", {})

    capsys.readouterr()
    args = ["--data-dir", str(desk.data_dir), "requests", "reject", reference, "--reason", " "]
    assert await asyncio.to_thread(cli.main, args) == 1
    assert capsys.readouterr().err == f"privacybot: error: {english}\n"

    async with httpx.AsyncClient(base_url=desk.server.url) as http:
        answer = await http.post(
            f"/api/v1/requests/{reference}/reject",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"reason": " "},
        )
        assert answer.status_code == 409
        assert answer.json() == {"error": english, "key": "reason_missing", "params": {}}
        late = await http.post(
            f"/api/v1/requests/{reference}/delay",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"reason": "x", "until": "2000-01-01"},
        )
        assert late.status_code == 400 and late.json()["key"] == "until_range"
        assert late.json()["params"]["until"] == "2000-01-01"
        assert late.json()["error"] == catalogue.refusal("en", "until_range", late.json()["params"])

        await _log_in(http, "ani@jovapos.test")
        page = await http.get(f"/console/requests/{reference}")
        refused = await http.post(
            f"/console/requests/{reference}/reject",
            data={"csrf": _csrf(page.text), "sure": "on", "reason": " "},
        )
        # The console answers with the form again and the key's text for its reader.
        assert refused.status_code == 400
        assert catalogue.text("id", "console.problem.reason_missing") in refused.text
    record = await find_request(desk.engine.services.store, reference)
    assert [e.kind for e in record.events if e.actor != "customer"] == []
