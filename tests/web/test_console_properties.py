"""Whatever a signed-in staff member's browser (or someone holding a stolen
cookie) sends to the console, the server never answers 5xx and never takes a
second: ids out of range, odd references, unknown actions, forged or missing
CSRF tokens, odd query strings and form fields are all refused or shown as a
page, and none of it reaches a traceback."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.settings import load_settings
from bot.staff.accounts import add_staff
from tests.conftest import CODE, PNG, Chat, FakeClock, file_of, mailbox_of
from tests.server import running_server

PASSWORD = "kata-sandi-yang-panjang"
BUDGET = 1.0  # seconds per request
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "60"))


class Harness:
    """The real server with an admin signed in and one conversation and one
    request to act on, in an event loop of its own that each example runs in."""

    def __init__(self, root: Path) -> None:
        self.runner = asyncio.Runner()
        self.runner.run(self._start(root))

    async def _start(self, root: Path) -> None:
        settings = load_settings(
            environ={}, data_dir=str(root / "data"), public_url="http://127.0.0.1"
        )
        self._server_cm = running_server(settings, clock=FakeClock())
        self.server = await self._server_cm.__aenter__()
        engine = self.server.core.engine
        await add_staff(engine.services, "boss@jovapos.test", "admin", PASSWORD)
        await add_staff(engine.services, "ani@jovapos.test", "agent", PASSWORD)
        mailbox_of(engine)
        chat = Chat(engine, address="siti")
        await chat.script("4", "Siti Aminah", "siti@example.com", CODE, "1")
        await chat.say("Saya tidak mau menerima promosi")
        await chat.say("", file_of(PNG))
        await chat.say("1")
        self.reference = re.search(r"RES-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
        await chat.say("staf")
        self.http = httpx.AsyncClient(base_url=self.server.url, timeout=10)
        await self.log_in()

    async def log_in(self) -> None:
        form = await self.http.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        answer = await self.http.post(
            "/console/login",
            data={"csrf": token, "email": "boss@jovapos.test", "password": PASSWORD},
        )
        assert answer.status_code == 303, answer.text[:300]
        inbox = await self.http.get("/console/inbox")
        self.csrf = re.search(r'name="csrf" value="([^"]+)"', inbox.text).group(1)  # type: ignore[union-attr]

    def close(self) -> None:
        async def stop() -> None:
            await self.http.aclose()
            await self._server_cm.__aexit__(None, None, None)

        self.runner.run(stop())
        self.runner.close()

    def timed(self, method: str, url: str, form: dict[str, str] | None) -> httpx.Response:
        """One request: below 5xx within the budget."""
        started = time.monotonic()
        response = self.runner.run(self.http.request(method, url, data=form))
        elapsed = time.monotonic() - started
        assert response.status_code < 500, (method, url, response.status_code, response.text[:300])
        assert elapsed < BUDGET, (method, url, elapsed)
        return response


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("console"))
    yield h
    h.close()


PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
number = st.one_of(
    st.integers(-(2**70), 2**200).map(str),
    st.sampled_from(["1", "0", "99999999999999999999", "1e9", "0x1", "\u0661", "-1", ""]),
)
reference = st.one_of(
    st.just("{ref}"),
    st.sampled_from(["ACC-AAAAAA", "DEL-0", "acc-aaaaaa", "X" * 300, "RES-%00", "."]),
    number,
    text,
)
# Every console route, with each path segment drawn from odd values. Logging out
# is left out (it would end the session the other examples use) and so is the
# event stream (it stays open by design).
path = st.one_of(
    st.tuples(st.just("/console/chats/"), number, st.sampled_from(["", "/"]), text),
    st.tuples(st.just("/console/requests/"), reference, st.sampled_from(["", "/"]), text),
    st.tuples(
        st.sampled_from(
            ["/console", "/console/inbox", "/console/staff", "/console/settings", "/console/login"]
        ),
        st.just(""),
        st.sampled_from(["", "/"]),
        st.sampled_from(["", "add", "change", "x"]),
    ),
)
chat_action = st.sampled_from(
    ["claim", "reply", "note", "transfer", "release", "answer", "takeover", "x", ""]
)
request_action = st.sampled_from(
    [
        *("verify", "ask", "reject", "delay", "complete", "cancel", "proof", "x", ""),
        *("proofs/1/reveal", "proofs/1", "proofs/0/reveal", "proofs/99999999999999999999"),
        *("notifications/1/retry", "notifications/0/retry", "proofs/x/reveal"),
    ]
)
query = st.dictionaries(
    st.sampled_from(
        ["error", "sent", "done", "q", "status", "lang", "tab", "x", "proof", "until", "grant"]
    ),
    st.one_of(text, st.sampled_from(["claim_first", "sms", "1", "until_range"])),
    max_size=3,
)
form = st.dictionaries(
    st.sampled_from(
        [
            *("text", "reason", "message", "until", "email", "role", "action", "to", "sure"),
            *("answer", "note"),
        ]
    ),
    st.one_of(
        text,
        st.sampled_from(
            ["9999-12-31", "2027-01-01", "on", "admin", "ani@jovapos.test", "", "audit", "other"]
        ),
        st.just("x" * 5000),
    ),
    max_size=4,
)


@PROPERTY
@given(
    method=st.sampled_from(["GET", "POST"]),
    path=path,
    chat_action=chat_action,
    request_action=request_action,
    query=query,
    fields=form,
    csrf=st.sampled_from(["valid", "forged", "missing"]),
)
def test_console_routes(
    harness: Harness,
    method: str,
    path: tuple[str, str, str, str],
    chat_action: str,
    request_action: str,
    query: dict[str, str],
    fields: dict[str, str],
    csrf: str,
) -> None:
    base, segment, slash, tail = path
    segment = segment.replace("{ref}", harness.reference)
    if slash and base.startswith("/console/chats/"):
        tail = chat_action
    elif slash and base.startswith("/console/requests/"):
        tail = request_action
    url = base + quote(segment, safe="") + slash + quote(tail, safe="/")
    if query:
        url += "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query.items())
    body = None
    if method == "POST":
        body = dict(fields)
        if csrf == "valid":
            body["csrf"] = harness.csrf
        elif csrf == "forged":
            body["csrf"] = "forged"
    if url.startswith("/console/login") and method == "POST":
        # A wrong login is slowed on purpose after a few failures: not this test's subject.
        return
    harness.timed(method, url, body)


def test_the_session_survived(harness: Harness) -> None:
    """The examples above ran signed in (no logout among them)."""
    assert harness.runner.run(harness.http.get("/console/inbox")).status_code == 200
