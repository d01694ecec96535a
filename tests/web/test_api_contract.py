"""The back-office API against its own OpenAPI document, by a property-based
client (schemathesis): every answer to generated requests, valid and invalid,
has a documented status, content type and shape, and none is a server error.

The server runs in a thread of its own (its own event loop), as in production,
and schemathesis calls it over HTTP with a valid bearer token.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.infra.crypto import hash_token
from bot.settings import load_settings
from bot.web.api import OPENAPI
from tests.conftest import CODE, Chat, FakeClock, mailbox_of
from tests.server import PUBLIC_URL, running_server

TOKEN = "contract-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

schema = schemathesis.openapi.from_dict(
    OPENAPI,
    config=schemathesis.Config.from_dict(
        {"generation": {"mode": "all", "max-examples": 100, "deterministic": True}}
    ),
)


@dataclass
class Api:
    url: str
    loop: asyncio.AbstractEventLoop
    file_request: Any  # async (address, email) -> reference, run on the server's loop

    def new_request(self, address: str) -> str:
        """A fresh access request, so no test depends on what another did to one."""
        done: Future[str] = asyncio.run_coroutine_threadsafe(self.file_request(address), self.loop)
        return done.result(timeout=30)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data_dir = tmp_path_factory.mktemp("contract") / "data"
    started: Future[tuple[Api, asyncio.Event]] = Future()

    async def serve() -> None:
        settings_ = load_settings(environ={}, data_dir=str(data_dir), public_url=PUBLIC_URL)
        clock = FakeClock()
        async with running_server(settings_, clock=clock) as server:
            engine = server.core.engine
            mailbox_of(engine)
            async with engine.services.store.transaction() as tx:
                await tx.create_api_token("contract", hash_token(TOKEN), clock())

            async def file_request(address: str) -> str:
                chat = Chat(engine, address=address)
                clock.advance(seconds=61)
                await chat.script(
                    "2", "Siti Aminah", f"{address}@example.com", CODE, "lewati", "nanti", "1"
                )
                return re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]

            await file_request("listed")  # something for the listing to show
            stop = asyncio.Event()
            started.set_result(
                (Api(server.url + "/api/v1", asyncio.get_running_loop(), file_request), stop)
            )
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the waiting test
            if not started.done():
                started.set_exception(exc)
            raise

    thread = threading.Thread(target=run, name="api-contract-server", daemon=True)
    thread.start()
    server, stop = started.result(timeout=60)
    yield server
    server.loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)


@schema.parametrize()
@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_document_says(case: schemathesis.Case, api: Api) -> None:
    case.call_and_validate(base_url=api.url, headers=AUTH, checks=CHECKS)


def _documented(path: str, method: str) -> set[int]:
    return {int(code) for code in OPENAPI["paths"][path][method]["responses"]}


def _refused(answer: httpx.Response, *codes: int) -> str:
    """A documented JSON error, never a server error; returns its text."""
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    if codes:
        assert answer.status_code in codes, (answer.status_code, answer.text)
    assert answer.headers["content-type"] == "application/json", answer.headers
    error = answer.json()["error"]
    assert isinstance(error, str) and error
    return error


MALFORMED_REFERENCES = (
    "99999999999999999999",
    "-1",
    "1e309",
    "ACC-ZZZZZZ",  # well-formed, filed by nobody
    "acc-0o0o0o",
    "ACC-" + "9" * 4000,
    "%00",
    "%FF%FE",
    "..%2F..%2Fetc%2Fpasswd",
    "DEL-7K3M9Q%0A",
    "%EF%BC%91%EF%BC%92",  # full-width digits
    "ACC-7K3M9Q%3Bverify",
)


def test_malformed_and_unknown_references_are_json_4xx(api: Api) -> None:
    with httpx.Client(base_url=api.url, headers=AUTH, timeout=10) as http:
        for ref in MALFORMED_REFERENCES:
            path = f"/requests/{ref}"
            _refused(http.get(path), *_documented("/requests/{reference}", "get"))
            for action in ("verify", "delay", "cancel", "bogus"):
                _refused(
                    http.post(f"{path}/{action}", json={"reason": "x", "until": "2027-01-04"}),
                    *_documented("/requests/{reference}/{action}", "post"),
                )
            _refused(
                http.post(f"{path}/export", files={"file": ("a.csv", b"x", "text/csv")}),
                *_documented("/requests/{reference}/export", "post"),
            )
        # Paths and methods the API does not have: its JSON error too.
        _refused(http.get("/nothing-here"), 404)
        _refused(http.get("/requests/ACC-ZZZZZZ/verify/more"), 404)
        _refused(http.get("/requests/ACC-ZZZZZZ/verify"), 405)
        _refused(http.get("/requests", params={"status": "9" * 30}), 400)


def test_export_bodies_the_document_does_not_allow_are_json_400(api: Api) -> None:
    reference = api.new_request("exporter")
    with httpx.Client(base_url=api.url, headers=AUTH, timeout=10) as http:
        http.post(f"/requests/{reference}/ask", json={"message": "Kirim KTP"})
        assert http.post(f"/requests/{reference}/verify").json()["status"] == "in_progress"
        export = f"/requests/{reference}/export"
        boundary = "b0undary"
        multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        for headers, body in (
            (multipart, f"--{boundary}--\r\n".encode()),  # empty: no file
            (multipart, b""),
            (multipart, b"--b0undary\r\nContent-Disposition: form-data\r\n\r\nx"),  # torn
            ({"Content-Type": "multipart/form-data"}, b"no boundary at all"),
            ({"Content-Type": "multipart/form-data; boundary="}, b"--\r\n"),
            ({"Content-Type": "application/json"}, b'{"file": "x"}'),
            (
                multipart,
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
                f"just text\r\n--{boundary}--\r\n".encode(),
            ),
        ):
            _refused(http.post(export, headers=headers, content=body), 400)
        too_many = [("file", (f"{n}.csv", b"x", "text/csv")) for n in range(21)]
        _refused(http.post(export, files=too_many), 400)

        def chunked() -> Iterator[bytes]:
            yield b"--b0undary--\r\n"

        _refused(http.post(export, headers=multipart, content=chunked()), 411)
        _refused(http.post(f"/requests/{reference}/delay", content=b"{" * (1024 * 1024 + 1)), 413)
        for body in ({"reason": 5, "until": "2027-01-04"}, {"reason": "x", "until": 20270104}):
            _refused(http.post(f"/requests/{reference}/delay", json=body), 400)
        # Still open: none of that completed it.
        assert http.get(f"/requests/{reference}").json()["status"] == "in_progress"


def test_answers_about_a_real_request_match_the_document(api: Api) -> None:
    reference = api.new_request("documented")
    for path, method, body in (
        ("/requests", "GET", None),
        ("/requests/{reference}", "GET", None),
        ("/requests/{reference}/{action}", "POST", {"message": "Kirim KTP"}),
        ("/requests/{reference}/{action}", "POST", None),  # reject without a reason: 409
        ("/requests/{reference}/notifications", "GET", None),
        ("/requests/{reference}/notifications/{id}/retry", "POST", None),  # not failed: 409
    ):
        parameters: dict[str, str] = {"reference": reference} if "{" in path else {}
        if path.endswith("{action}"):
            parameters["action"] = "ask" if body else "reject"
        if "{id}" in path:
            listed = httpx.get(f"{api.url}/requests/{reference}/notifications", headers=AUTH)
            parameters["id"] = str(listed.json()[0]["id"])
        operation = schema[path][method]
        case = operation.Case(
            path_parameters=parameters or None,
            **({"body": body, "media_type": "application/json"} if body else {}),
        )
        case.call_and_validate(base_url=api.url, headers=AUTH, checks=CHECKS)
