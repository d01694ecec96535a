"""Every console page, in both languages, reads as words: requests of each
type and status, the inbox, chats waiting, held, released and sealed, the
staff and settings pages, the login page, refusals and the one-time flash.
No text a person reads is a catalogue key, ``None``, ``True``/``False``, a
stored code or (on the Indonesian page) an English sentence."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.conversation.engine import Engine
from bot.domain.models import Channel
from bot.requests import actions
from bot.requests.exports import ExportFile, complete_access
from bot.settings import load_settings
from bot.staff import chats as staff_chats
from bot.staff.accounts import add_staff, change_staff
from tests.conftest import CODE, JPEG, PNG, Chat, FakeClock, file_of, mailbox_of
from tests.raw import raw
from tests.server import RunningServer, running_server
from tests.web.console_html import notices, parse, shown_texts, unreadable

PASSWORD = "kata-sandi-yang-panjang"


async def _log_in(http: httpx.AsyncClient, email: str, lang: str = "id") -> None:
    form = await http.get("/console/login", params={"lang": lang})
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    answer = await http.post(
        "/console/login",
        data={"csrf": token, "email": email, "password": PASSWORD, "lang": lang},
    )
    assert answer.status_code == 303


async def _code(engine: Engine, email: str) -> str:
    """The code mailed to ``email``: the server's outbox worker may be the one
    that sends it, a moment after the chat's answer."""
    for _ in range(100):
        with contextlib.suppress(AssertionError):
            return mailbox_of(engine).latest_code(email)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code was mailed to {email}")


def _reference(chat: Chat, prefix: str) -> str:
    found = re.search(rf"{prefix}-[0-9A-Z]{{6}}", chat.text)
    assert found is not None, chat.text
    return found.group(0)


async def _desk(server: RunningServer) -> tuple[list[str], list[int]]:
    """Requests of every type and status, and chats in every state; their
    references and chat ids."""
    engine = server.core.engine
    services, clock = engine.services, engine.services.clock
    for email, role in (("ani@jovapos.test", "agent"), ("boss@jovapos.test", "admin")):
        await add_staff(services, email, role, PASSWORD)
    await add_staff(services, "rudi@jovapos.test", "agent", PASSWORD, actor="boss@jovapos.test")
    await change_staff(services, "boss@jovapos.test", "rudi@jovapos.test", "disable")
    await change_staff(services, "boss@jovapos.test", "ani@jovapos.test", "unlock")
    mailbox_of(engine)
    references = []

    async def filed(address: str, prefix: str, *lines: str | bytes) -> str:
        chat = Chat(engine, address=address)
        email = ""
        for line in lines:
            if isinstance(line, bytes):
                await chat.say("", file_of(line))
            elif line == CODE:  # this customer's: the outbox sends other mail meanwhile
                await chat.say(await _code(engine, email))
            else:
                email = line if "@" in line else email
                await chat.say(line)
        reference = _reference(chat, prefix)
        references.append(reference)
        return reference

    # Awaiting ID proof (sent later), verifying, asked, in progress with a new date.
    await filed(
        "budi", "ACC", "2", "Budi Santoso", "budi@example.com", CODE, "lewati", "nanti", "1"
    )
    await filed("sekar", "DEL", "1", "1", "Sekar Ayu", "sekar@example.com", CODE, "2", PNG, "1")
    asked = await filed(
        "andi",
        "COR",
        "koreksi",
        "Andi Wijaya",
        "andi@example.com",
        CODE,
        "4",
        "Toko Andi",
        JPEG,
        "1",
    )
    await actions.ask(services, asked, "staff:ani@jovapos.test", "Foto buram")
    await Chat(engine, address="andi").say("Ini foto yang lebih jelas")
    delayed = await filed(
        "dewi",
        "RES",
        "batasi pemrosesan",
        "Dewi",
        "dewi@example.com",
        CODE,
        "1, 4",
        "Cukup",
        PNG,
        "1",
    )
    await actions.verify(services, delayed, "staff:ani@jovapos.test")
    until = clock().date().replace(year=clock().year + 1)
    await actions.delay(services, delayed, "api:backoffice", "Arsip", until)
    # Completed (an access with its data copy; a deletion, forgotten), rejected, cancelled.
    copy = await filed("rina", "ACC", "2", "Rina", "rina@example.com", CODE, "lewati", PNG, "1")
    await actions.verify(services, copy, "staff:ani@jovapos.test")
    await complete_access(services, copy, "staff:ani@jovapos.test", [ExportFile("a.csv", b"x")])
    gone = await filed("tari", "DEL", "1", "1", "Tari", "tari@example.com", CODE, "1", PNG, "1")
    await actions.verify(services, gone, "staff:ani@jovapos.test")
    await actions.complete(services, gone, "staff:ani@jovapos.test")
    for address in ("yuni", "wati"):
        ended = await filed(
            address, "ACC", "2", "Yuni", f"{address}@example.com", CODE, "lewati", "nanti", "1"
        )
        if address == "yuni":
            await actions.reject(services, ended, "cli", "Bukan pelanggan")
        else:
            await actions.cancel(services, ended, "cli")

    # Chats: waiting with a draft, held with a reply and a note, released, sealed (SMS).
    lina = Chat(engine, address="lina")
    await lina.script("2", "Lina", "lina@example.com")
    await lina.script(await _code(engine, "lina@example.com"), "staf")
    await Chat(engine, address="joko").script("staf")
    await Chat(engine, address="maya").script("staf")
    sms = Chat(engine, address="+6281377700011", channel=Channel.SMS)
    await sms.script("2", "Siti Aminah", "siti@example.com")
    await sms.script(await _code(engine, "siti@example.com"), "lewati", "staf")
    async with services.store.transaction(readonly=True) as tx:
        chat_ids = [c.id for c in await tx.staff_queue("nobody")]
    joko, maya = chat_ids[1], chat_ids[2]
    core = server.core
    await staff_chats.claim(core.services, core.channels, joko, "ani@jovapos.test")
    await staff_chats.reply(core.services, core.channels, joko, "ani@jovapos.test", "Halo Kak")
    await staff_chats.note(core.services, core.channels, joko, "ani@jovapos.test", "Sopan")
    await Chat(engine, address="joko").say("", file_of(PNG))  # a picture, while Ani holds it
    await staff_chats.claim(core.services, core.channels, maya, "boss@jovapos.test")
    await staff_chats.release(core.services, core.channels, maya, "boss@jovapos.test")
    return references, chat_ids


@pytest.fixture
async def server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), public_url="http://127.0.0.1"
    )
    async with running_server(settings, clock=clock) as running:
        yield running


async def _failed_and_delivered(server: RunningServer, reference: str) -> None:
    """The request's receipt delivered (a provider's report), a later notice
    given up: the page shows both states, the failure's reason and a retry."""
    db = raw(server.core.services.store)
    rid = "(SELECT id FROM requests WHERE reference = ?)"
    await db.execute(
        "UPDATE notifications SET status = 'sent', provider_id = 'SM-pages', sent_at = created_at "
        f"WHERE request_id = {rid} AND kind = 'receipt'",
        (reference,),
    )
    await db.execute(
        "INSERT INTO delivery_events (provider_id, status, received_at) "
        "VALUES ('SM-pages', 'delivered', '2026-11-26T03:00:00+00:00')"
    )
    await db.execute(
        "UPDATE notifications SET status = 'given_up', attempts = 4, last_error = 'OutsideWindow' "
        f"WHERE request_id = {rid} AND kind != 'receipt'",
        (reference,),
    )
    await db.commit()


async def test_every_console_page_reads_as_words_in_both_languages(server: RunningServer) -> None:
    references, chat_ids = await _desk(server)
    catalogue = server.core.services.catalogue
    await _failed_and_delivered(server, references[3])  # delayed: three notices
    pages = [
        "/console",
        "/console?status=all",
        "/console?status=info_received",  # answered: the "customer answered" mark
        "/console?status=all&sort=name&dir=desc",
        "/console?status=all&sort=bogus&dir=x&page=x",
        "/console?q=andi",
        "/console?q=tidak-ada-yang-cocok",  # an empty queue
        *(f"/console/requests/{r}" for r in references),
        "/console/requests/ACC-ZZZZZZ",  # not found
        f"/console/requests/{references[0]}?error=not_possible",
        "/console/inbox",
        "/console/inbox?tab=mine",
        "/console/inbox?tab=waiting",
        "/console/inbox?q=Lina",
        "/console/inbox?q=tidak-ada-yang-cocok",
        *(f"/console/chats/{c}" for c in chat_ids),
        f"/console/chats/{chat_ids[1]}?confirm=take_over",  # held by Ani: the admin asks first
        "/console/answers",
        "/console/answers?delete=1",
        "/console/staff",
        "/console/settings",
        "/console/dashboard",
        "/console/audit",
        "/console/audit?kind=login",
        "/console/audit?kind=export",
        "/console/password",
        "/console/staff/confirm?email=ani%40jovapos.test&action=disable",
        "/console/staff/confirm?email=ani%40jovapos.test&action=reset_password",
    ]
    checked = 0
    english_answers = {
        text for key, text in catalogue.texts["en"].items() if key.startswith("canned.")
    }
    for lang in ("id", "en"):
        async with (
            httpx.AsyncClient(base_url=server.url) as boss,
            httpx.AsyncClient(base_url=server.url) as ani,
            httpx.AsyncClient(base_url=server.url) as nobody,
        ):
            login = await nobody.get("/console/login", params={"lang": lang})
            await _log_in(boss, "boss@jovapos.test", lang)
            await _log_in(ani, "ani@jovapos.test", lang)
            await boss.get("/console/queue.csv")  # an export in the audit
            answers = [login, *[await boss.get(path) for path in pages]]
            answers.append(await ani.get("/console/staff"))  # admins only
            answers.append(await ani.get(f"/console/chats/{chat_ids[1]}"))  # held by ani
            answers.append(await ani.get(f"/console/chats/{chat_ids[1]}?confirm=release"))
            answers.append(await ani.get(f"/console/chats/{chat_ids[1]}?answer=1"))
            answers.append(await ani.get("/console/answers"))  # admins only
            # A form's answer: a refusal on the page, and a success flash, once.
            page = await boss.get("/console/staff")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            form = {"csrf": csrf, "email": "ani@jovapos.test"}
            answers.append(await boss.post("/console/staff/add", data={**form, "role": "agent"}))
            answers.append(await boss.post("/console/staff/change", data={**form, "action": "x"}))
            action = "ask" if lang == "id" else "verify"  # asked, then verified
            done = await boss.post(
                f"/console/requests/{references[1]}/{action}",
                data={"csrf": csrf, "message": "Mohon foto ulang", "sure": "on"},
            )
            answers.append(await boss.get(done.headers["location"]))
            assert notices(answers[-1].text) == [("done", catalogue.text(lang, "console.done"))]
            # The request page: a proof shown after its recorded reason, a form
            # refused with what was typed, a refused reveal.
            base = f"/console/requests/{references[3]}"
            shown = await boss.post(
                f"{base}/proofs/1/reveal", data={"csrf": csrf, "reason": "check_identity"}
            )
            answers.append(await boss.get(shown.headers["location"]))
            assert answers[-1].text.count('class="proof"') == 1
            read = parse(answers[-1].text).find(id="request-notices").text()
            for key in ("notice_error.OutsideWindow", "notice_state.delivered", "retry"):
                assert catalogue.text(lang, f"console.request.{key}") in read, key
            answers.append(
                await boss.post(f"{base}/reject", data={"csrf": csrf, "reason": "Tidak cocok"})
            )
            answers.append(
                await boss.post(f"{base}/proofs/1/reveal", data={"csrf": csrf, "reason": "x"})
            )
            # A one-time password: the change form, as its owner first sees it.
            async with httpx.AsyncClient(base_url=server.url) as new:
                services = server.core.services
                await add_staff(
                    services, f"baru-{lang}@jovapos.test", "agent", PASSWORD, one_time=True
                )
                await _log_in(new, f"baru-{lang}@jovapos.test", lang)
                answers.append(await new.get("/console/password"))
                assert "/console/dashboard" not in answers[-1].text  # no menu yet
            for answer in answers:
                assert answer.status_code in (200, 400, 403, 404), answer.url
                assert parse(answer.text).find("html").attrs["lang"] == lang
                texts = shown_texts(answer.text)
                if answer.url.path == "/console/answers":
                    # Each ready answer is also shown in English (lang="en"): the customer's words.
                    texts = [text for text in texts if text not in english_answers]
                assert texts and unreadable(texts, lang, catalogue) == [], (lang, answer.url)
                checked += 1
    assert checked == 2 * (len(pages) + 13)
