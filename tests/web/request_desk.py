"""A server with staff and customers' requests for the request page's tests:
log in, read a form's CSRF token, file requests with one or two ID proofs."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bot.conversation.engine import Engine
from bot.requests import actions
from bot.settings import load_settings
from bot.staff.accounts import add_staff
from tests.conftest import CODE, JPEG, PDF, PNG, Chat, FakeClock, file_of, mailbox_of
from tests.server import RunningServer, running_server

PASSWORD = "kata-sandi-yang-panjang"


@contextlib.asynccontextmanager
async def staffed_server(data_dir: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    """A server on ``data_dir`` with two staff members: ani (agent) and boss (admin)."""
    settings = load_settings(environ={}, data_dir=str(data_dir), public_url="http://127.0.0.1")
    async with running_server(settings, clock=clock) as running:
        services = running.core.services
        await add_staff(services, "ani@jovapos.test", "agent", PASSWORD)
        await add_staff(services, "boss@jovapos.test", "admin", PASSWORD)
        mailbox_of(running.core.engine)
        yield running


@contextlib.asynccontextmanager
async def signed_in(server: RunningServer, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        await log_in(http, email)
        yield http


async def log_in(http: httpx.AsyncClient, email: str, lang: str = "id") -> None:
    form = await http.get("/console/login", params={"lang": lang})
    answer = await http.post(
        "/console/login",
        data={"csrf": csrf(form.text), "email": email, "password": PASSWORD, "lang": lang},
    )
    assert answer.status_code == 303


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def reference_in(chat: Chat, prefix: str) -> str:
    return re.search(rf"{prefix}-[0-9A-Z]{{6}}", chat.text).group(0)  # type: ignore[union-attr]


async def deletion_with_two_proofs(engine: Engine, address: str = "sekar") -> str:
    """Sekar's deletion: a PNG with the request, a PDF after staff asked for
    more; verified, so the next step is to complete it."""
    chat = Chat(engine, address=address)
    await chat.script("1", "1", "Sekar Ayu", f"{address}@example.com", CODE, "2")
    await chat.say("", file_of(PNG))
    await chat.say("1")
    reference = reference_in(chat, "DEL")
    await actions.ask(engine.services, reference, "staff:boss@jovapos.test", "Foto buram")
    await chat.say("", file_of(PDF))
    await actions.verify(engine.services, reference, "staff:boss@jovapos.test")
    return reference


async def correction_with_proof(engine: Engine, address: str = "andi") -> str:
    """Andi's correction, ID proof (JPEG) attached: waiting for verification."""
    chat = Chat(engine, address=address)
    await chat.script("koreksi", "Andi Wijaya", f"{address}@example.com", CODE, "4", "Toko Andi")
    await chat.say("", file_of(JPEG))
    await chat.say("1")
    return reference_in(chat, "COR")
