"""The inbox and a chat's page over real HTTP: the tabs, the search and its
pages, the unread mark and the tab title's counts, files the customer sent
(each view recorded), delivery states, ready answers (admins manage them,
staff pick them), the transfer picker, the confirmations and the one-time
messages after each act."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.domain.models import Channel
from bot.settings import load_settings
from bot.staff import chats as staff_chats
from bot.staff.accounts import add_staff, change_staff
from tests.conftest import CODE, PNG, Chat, FakeClock, file_of, mailbox_of
from tests.raw import sql
from tests.server import RunningServer, running_server
from tests.web.console_html import notices, parse, transcript

PASSWORD = "kata-sandi-yang-panjang"


@dataclass
class Inbox:
    server: RunningServer
    clock: FakeClock
    ids: dict[str, int]  # address -> chat id
    reference: str  # Siti's request, filed from her chat


async def _log_in(http: httpx.AsyncClient, email: str, lang: str = "id") -> None:
    form = await http.get("/console/login", params={"lang": lang})
    answer = await http.post(
        "/console/login",
        data={"csrf": _csrf(form.text), "email": email, "password": PASSWORD, "lang": lang},
    )
    assert answer.status_code == 303


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _rows(html: str) -> list[str]:
    """The text of each row of the chat list."""
    return [li.text() for li in parse(html).find_all("li", cls="chat-row")]


def _links(html: str) -> list[int]:
    return [
        int(n) for n in re.findall(r'class="chat-row[^"]*">\s*<a href="/console/chats/(\d+)', html)
    ]


@pytest.fixture
async def inbox(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Inbox]:
    """Chats in every state: Joko waiting, Lina held by Ani, Maya released,
    Siti's chat (she filed a request and then asked for staff), and Rudi, who
    never needed staff."""
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), public_url="http://127.0.0.1"
    )
    async with running_server(settings, clock=clock) as server:
        core = server.core
        services = core.services
        for email, role in (
            ("ani@jovapos.test", "agent"),
            ("budi@jovapos.test", "agent"),
            ("boss@jovapos.test", "admin"),
            ("rudi@jovapos.test", "agent"),
        ):
            await add_staff(services, email, role, PASSWORD)
        await change_staff(services, "boss@jovapos.test", "rudi@jovapos.test", "disable")
        mailbox_of(core.engine)
        siti = Chat(core.engine, address="siti-kasir")
        await siti.script("4", "Siti Aminah", "siti@example.com", CODE, "1")
        await siti.say("Saya tidak mau menerima promosi")
        await siti.say("", file_of(PNG))
        await siti.say("1")
        reference = re.search(r"RES-[0-9A-Z]{6}", siti.text).group(0)  # type: ignore[union-attr]
        await Chat(core.engine, address="rudi-toko").script("halo", "menu")
        lina = Chat(core.engine, address="lina-kasir")
        await lina.script("2", "Lina Marlina", "lina@example.com", "staf")
        await Chat(core.engine, address="joko-toko").script("staf")
        await Chat(core.engine, address="maya-toko").script("staf")
        clock.advance(minutes=1)
        await siti.script("staf")
        ids = {}
        async with services.store.transaction(readonly=True) as tx:
            for address in ("siti-kasir", "rudi-toko", "lina-kasir", "joko-toko", "maya-toko"):
                found = await tx.get_conversation(Channel.TERMINAL, address)
                assert found is not None
                ids[address] = found.id
        await staff_chats.claim(services, core.channels, ids["lina-kasir"], "ani@jovapos.test")
        await staff_chats.claim(services, core.channels, ids["maya-toko"], "boss@jovapos.test")
        await staff_chats.release(services, core.channels, ids["maya-toko"], "boss@jovapos.test")
        clock.advance(minutes=4)
        yield Inbox(server, clock, ids, reference)


async def test_the_tabs_list_mine_waiting_and_all_and_all_keeps_released_chats(
    inbox: Inbox,
) -> None:
    ids = inbox.ids
    async with httpx.AsyncClient(base_url=inbox.server.url) as ani:
        await _log_in(ani, "ani@jovapos.test")
        mine = await ani.get("/console/inbox", params={"tab": "mine"})
        assert _links(mine.text) == [ids["lina-kasir"]]
        waiting = await ani.get("/console/inbox", params={"tab": "waiting"})
        assert _links(waiting.text) == [ids["joko-toko"], ids["siti-kasir"]]  # oldest first
        # The language switch keeps the tab.
        english = parse(waiting.text).find("a", hreflang="en").attrs["href"]
        assert english == "/console/inbox?tab=waiting&lang=en"
        everything = await ani.get("/console/inbox")
        assert _links(everything.text) == _links(
            (await ani.get("/console/inbox", params={"tab": "all"})).text
        )
        # Waiting first, then held, then the rest; the chat that never needed staff is not here.
        assert _links(everything.text) == [
            ids["joko-toko"],
            ids["siti-kasir"],
            ids["lina-kasir"],
            ids["maya-toko"],
        ]
        rows = dict(zip(_links(everything.text), _rows(everything.text), strict=True))
        assert "menunggu sejak 26 Nov 2026 10.00 (0 j 5 mnt)" in rows[ids["joko-toko"]]
        assert "Sebab: minta staf" in rows[ids["joko-toko"]]
        assert "Lina Marlina" in rows[ids["lina-kasir"]]
        assert "Anda yang pegang" in rows[ids["lina-kasir"]]
        assert "sudah kembali ke bot" in rows[ids["maya-toko"]]
        assert "Siti Aminah" in rows[ids["siti-kasir"]]  # the name from her request
        for row in rows.values():  # channel (badge and words) and language
            assert "CLI" in row and "Terminal" in row and "Bahasa Indonesia" in row
        assert "Bot: Baik, permintaan Anda sudah kami teruskan" in rows[ids["joko-toko"]]
        # An unknown tab or page reads as the default; nothing breaks.
        for params in ({"tab": "x"}, {"page": "0"}, {"page": "99999999"}, {"page": "-1"}):
            assert (await ani.get("/console/inbox", params=params)).status_code == 200
        tabs = [a.text() for a in parse(everything.text).find("nav", id="chat-tabs").find_all("a")]
        assert tabs == ["Milik saya 1", "Menunggu 2", "Semua"]  # held by me, held by nobody
        # The tab title: chats waiting for me (unread, held by me) / waiting at all.
        title = parse(everything.text).find("title").text()
        assert title == "(1/3) Percakapan untuk staf · Konsol Privasi JOVA POS"


async def test_every_chat_is_found_by_name_number_email_or_reference(inbox: Inbox) -> None:
    ids = inbox.ids
    async with httpx.AsyncClient(base_url=inbox.server.url) as ani:
        await _log_in(ani, "ani@jovapos.test")

        async def found(query: str, tab: str = "all") -> list[int]:
            page = await ani.get("/console/inbox", params={"q": query, "tab": tab})
            assert page.status_code == 200
            return _links(page.text)

        assert await found("lina marlina") == [ids["lina-kasir"]]
        assert await found("LINA@example.com") == [ids["lina-kasir"]]
        assert await found("maya-toko") == [ids["maya-toko"]]  # released: still found
        assert await found(inbox.reference.lower()) == [ids["siti-kasir"]]
        assert await found("siti@example") == [ids["siti-kasir"]]
        assert await found("siti", tab="mine") == []
        assert await found("rudi") == []  # never handed to staff
        sms = Chat(inbox.server.core.engine, address="+6281377700011", channel=Channel.SMS)
        await sms.script("staf")
        async with inbox.server.core.services.store.transaction(readonly=True) as tx:
            texted = await tx.get_conversation(Channel.SMS, "+6281377700011")
        assert texted is not None
        assert await found("0813-7770 0011") == [texted.id]  # as people write it
        assert await found("+62813777") == [texted.id]
        for odd in ("%", "_", "'; --", "\\", "x" * 500):
            assert await found(odd) == []
        page = await ani.get("/console/inbox", params={"q": "tidak-ada"})
        assert "Tidak ada percakapan yang cocok dengan “tidak-ada”." in page.text


async def test_all_is_paged(inbox: Inbox) -> None:
    engine = inbox.server.core.engine
    for n in range(24):
        await Chat(engine, address=f"toko-{n:02}").script("staf")
    async with httpx.AsyncClient(base_url=inbox.server.url) as ani:
        await _log_in(ani, "ani@jovapos.test")
        first = await ani.get("/console/inbox")
        second = await ani.get("/console/inbox", params={"page": "2"})
        assert len(_links(first.text)) == 25 and len(_links(second.text)) == 3
        assert not set(_links(first.text)) & set(_links(second.text))
        assert "Halaman 1 dari 2" in first.text and 'href="/console/inbox?page=2"' in first.text
        searched = await ani.get("/console/inbox", params={"q": "toko-1", "tab": "waiting"})
        assert len(_links(searched.text)) == 10


async def test_a_chat_is_unread_until_opened_and_the_title_counts_it(inbox: Inbox) -> None:
    ids, engine = inbox.ids, inbox.server.core.engine
    async with httpx.AsyncClient(base_url=inbox.server.url) as ani:
        await _log_in(ani, "ani@jovapos.test")

        def unread(html: str) -> set[int]:
            return {
                int(n)
                for n in re.findall(
                    r'class="chat-row[^"]*is-unread[^"]*">\s*<a href="/console/chats/(\d+)', html
                )
            }

        page = await ani.get("/console/inbox")
        assert unread(page.text) == {ids["joko-toko"], ids["siti-kasir"], ids["lina-kasir"]} | {
            ids["maya-toko"]
        }
        assert "ada pesan yang belum dibaca" in page.text
        await ani.get(f"/console/chats/{ids['lina-kasir']}")
        page = await ani.get("/console/inbox")
        assert ids["lina-kasir"] not in unread(page.text)
        assert parse(page.text).find("title").text().startswith("(0/2) ")
        await Chat(engine, address="lina-kasir").say("Halo? Masih ada orang?")
        page = await ani.get("/console/inbox")
        assert ids["lina-kasir"] in unread(page.text)
        assert parse(page.text).find("title").text().startswith("(1/3) ")
        # Another staff member's reading is their own.
        async with httpx.AsyncClient(base_url=inbox.server.url) as boss:
            await _log_in(boss, "boss@jovapos.test")
            assert ids["lina-kasir"] in unread((await boss.get("/console/inbox")).text)


async def test_a_file_sent_in_the_chat_opens_through_the_console_and_each_view_is_recorded(
    inbox: Inbox,
) -> None:
    ids, engine = inbox.ids, inbox.server.core.engine
    await Chat(engine, address="lina-kasir").say("", file_of(PNG))  # while Ani holds it
    database = engine.services.settings.database_path
    async with httpx.AsyncClient(base_url=inbox.server.url) as ani:
        await _log_in(ani, "ani@jovapos.test")
        page = await ani.get(f"/console/chats/{ids['lina-kasir']}")
        # A chip, not the picture: nothing is decrypted (or recorded) until opened.
        assert not parse(page.text).find("ol", cls="transcript").find_all("img")
        (src,) = re.findall(
            r'class="file-chip is-image" href="(/console/chats/\d+/files/\d+)"', page.text
        )
        customer_lines = [text for kind, text in transcript(page.text) if kind == "customer"]
        assert all(text for text in customer_lines)  # no empty bubble
        shown = await ani.get(src)
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
        assert shown.content.startswith(b"\x89PNG") and shown.headers["cache-control"] == "no-store"
        await ani.get(src)
        views = sql(
            database,
            "SELECT viewer, purpose FROM attachment_views v JOIN attachments a ON "
            "a.id = v.attachment_id WHERE a.conversation_id = ?",
            (ids["lina-kasir"],),
        )
        assert views == [("ani@jovapos.test", "console_chat")] * 2
        # Siti's ID proof (sent in her chat) shows in her transcript too; a
        # file is only opened through its own chat.
        siti = await ani.get(f"/console/chats/{ids['siti-kasir']}")
        (proof,) = re.findall(r'href="/console/chats/\d+/files/(\d+)"', siti.text)
        assert (
            await ani.get(f"/console/chats/{ids['lina-kasir']}/files/{proof}")
        ).status_code == 404
        assert (
            await ani.get(f"/console/chats/{ids['lina-kasir']}/files/999999")
        ).status_code == 404
        # A file gone from the disk: said in the staff's words, not a 500.
        ((token,),) = sql(
            database,
            "SELECT token FROM attachments WHERE conversation_id = ?",
            (ids["lina-kasir"],),
        )
        engine.services.blobs.delete(token)
        gone = await ani.get(src)
        assert gone.status_code == 404
        said = engine.services.catalogue.text("id", "console.problem.file_unreadable")
        assert said in gone.text
    async with httpx.AsyncClient(base_url=inbox.server.url) as nobody:
        assert (await nobody.get(src)).status_code == 303  # to the login page


async def test_delivery_states_of_staff_messages(inbox: Inbox) -> None:
    """What the database knows of each staff message: on its way (never in
    alarming red), sent, delivered, or failed with the provider's code and
    the route it went on by."""
    core = inbox.server.core
    services = core.services
    tg = Chat(core.engine, address="777", channel=Channel.TELEGRAM)
    await tg.script("/start", "staf")
    async with services.store.transaction(readonly=True) as tx:
        chat = await tx.get_conversation(Channel.TELEGRAM, "777")
    assert chat is not None
    # No Telegram adapter here: nothing takes the messages, they stay unsent.
    await staff_chats.claim(services, core.channels, chat.id, "ani@jovapos.test")
    for text in ("Pesan satu", "Pesan dua", "Pesan tiga"):
        with pytest.raises(staff_chats.ChatError):
            await staff_chats.reply(services, core.channels, chat.id, "ani@jovapos.test", text)
    async with services.store.transaction() as tx:
        lines = await tx.chat_messages(chat.id)
        one, two, _ = [m.id for m in lines if m.text.startswith("Pesan")]
        now = services.clock()
        await tx.mark_sent(one, "tg-1", now)
        await tx.record_delivery("tg-1", "delivered", None, now, one)
        await tx.mark_sent(two, "tg-2", now)
        await tx.record_delivery("tg-2", "undelivered", "30008", now, two)
        await tx.add_chat_event(chat.id, "ani@jovapos.test", "undelivered", f"{two} telegram", now)
        await tx.add_chat_event(chat.id, "ani@jovapos.test", "rerouted", f"{two} -> email", now)
        # One still on its way (as a reply queued by email is, until the mail goes).
        await tx.record_outbound(
            chat.id,
            None,
            "id",
            chat.state,
            [("staff.reply", "Pesan empat", ())],
            now,
            author="ani@jovapos.test",
        )
    async with httpx.AsyncClient(base_url=inbox.server.url) as ani:
        await _log_in(ani, "ani@jovapos.test")

        def states(html: str) -> dict[str, str]:
            return {
                text.rsplit(" ", 2)[-2] + " " + text.rsplit(" ", 2)[-1]: text
                for kind, text in transcript(html)
                if kind == "staff" and "Pesan" in text
            }

        page = await ani.get(f"/console/chats/{chat.id}")
        shown = states(page.text)
        assert "sudah sampai" in shown["Pesan satu"]
        assert "gagal terkirim" in shown["Pesan dua"]
        assert "Kode kesalahan dari penyedia: 30008" in shown["Pesan dua"]
        assert "Lalu dikirim ulang lewat email" in shown["Pesan dua"]
        assert "tidak terkirim" in shown["Pesan tiga"]  # no route took it: said at once
        assert "Pesan dari ani@jovapos.test tidak terkirim" in page.text
        assert "sedang dikirim" in shown["Pesan empat"]
        assert 'class="state state-sending"' in page.text  # muted, not the alarm colour
        inbox.clock.advance(minutes=11)
        page = await ani.get(f"/console/chats/{chat.id}")
        assert "tidak terkirim" in states(page.text)["Pesan empat"]


async def test_admins_manage_ready_answers_and_staff_pick_them(inbox: Inbox) -> None:
    ids = inbox.ids
    long_id = "Mohon maaf atas ketidaknyamanannya. " * 20
    async with (
        httpx.AsyncClient(base_url=inbox.server.url) as ani,
        httpx.AsyncClient(base_url=inbox.server.url) as boss,
    ):
        await _log_in(ani, "ani@jovapos.test")
        await _log_in(boss, "boss@jovapos.test")
        # Agents neither see nor change them; a form without the token does nothing.
        assert (await ani.get("/console/answers")).status_code == 403
        csrf = _csrf((await ani.get("/console/inbox")).text)
        form = {"csrf": csrf, "text_id": "x", "text_en": "y"}
        assert (await ani.post("/console/answers/save", data=form)).status_code == 403
        page = await boss.get("/console/answers")
        assert page.status_code == 200
        assert "Halo, terima kasih sudah menghubungi" in page.text  # the configured ones
        assert "Hello, thank you for contacting" in page.text
        forged = await boss.post(
            "/console/answers/save", data={"csrf": "x", "text_id": "a", "text_en": "b"}
        )
        assert forged.status_code == 403
        csrf = _csrf(page.text)
        added = await boss.post(
            "/console/answers/save",
            data={"csrf": csrf, "text_id": long_id, "text_en": "Sorry for the trouble."},
        )
        assert added.headers["location"] == "/console/answers"
        page = await boss.get("/console/answers")
        assert notices(page.text) == [("done", "Jawaban siap pakai tersimpan.")]
        assert long_id.strip() in page.text
        half = await boss.post(
            "/console/answers/save", data={"csrf": csrf, "text_id": "Hanya satu", "text_en": " "}
        )
        assert half.headers["location"] == "/console/answers?error=answer_length"
        number = max(int(n) for n in re.findall(r'name="id" value="(\d+)"', page.text))
        await boss.post(
            "/console/answers/save",
            data={"csrf": csrf, "id": str(number), "text_id": long_id, "text_en": "So sorry."},
        )
        # Staff pick it in the customer's language, whole, and it fills the composer.
        chat = await ani.get(f"/console/chats/{ids['lina-kasir']}")
        picker = [a.text() for a in parse(chat.text).find_all("a") if "data-answer" in a.attrs]
        assert long_id.strip() in picker and len(picker) == 5
        prefilled = await ani.get(
            f"/console/chats/{ids['lina-kasir']}", params={"answer": str(number)}
        )
        assert parse(prefilled.text).find("textarea", id="reply-text").text() == long_id.strip()
        sent = await ani.post(
            f"/console/chats/{ids['lina-kasir']}/reply",
            data={"csrf": _csrf(chat.text), "text": "", "canned": str(number)},
        )
        assert "error" not in sent.headers["location"]
        async with inbox.server.core.services.store.transaction(readonly=True) as tx:
            lines = await tx.chat_messages(ids["lina-kasir"])
        assert lines[-1].text == long_id.strip()
        # Deleting asks first.
        asked = await boss.post(f"/console/answers/{number}/delete", data={"csrf": csrf})
        assert asked.headers["location"].startswith(f"/console/answers?delete={number}")
        confirm = await boss.get(asked.headers["location"].split("#")[0])
        assert "Hapus jawaban ini untuk semua staf?" in confirm.text
        gone = await boss.post(
            f"/console/answers/{number}/delete", data={"csrf": csrf, "sure": "1"}
        )
        assert gone.headers["location"] == "/console/answers"
        page = await boss.get("/console/answers")
        assert notices(page.text) == [("done", "Jawaban siap pakai sudah dihapus.")]
        assert long_id.strip() not in page.text
        again = await boss.post(
            f"/console/answers/{number}/delete", data={"csrf": csrf, "sure": "1"}
        )
        assert again.headers["location"] == "/console/answers?error=no_answer"
        # Every configured one deleted stays deleted (not copied in again).
        for n in re.findall(r'name="id" value="(\d+)"', page.text):
            await boss.post(f"/console/answers/{n}/delete", data={"csrf": csrf, "sure": "1"})
        assert "Belum ada jawaban siap pakai." in (await boss.get("/console/answers")).text


async def test_transfer_lists_only_active_colleagues_and_acts_ask_and_say_what_was_done(
    inbox: Inbox,
) -> None:
    ids = inbox.ids
    lina = f"/console/chats/{ids['lina-kasir']}"
    async with (
        httpx.AsyncClient(base_url=inbox.server.url) as ani,
        httpx.AsyncClient(base_url=inbox.server.url) as boss,
    ):
        await _log_in(ani, "ani@jovapos.test", "en")
        await _log_in(boss, "boss@jovapos.test")
        page = await ani.get(lina)
        options = [
            o.attrs["value"]
            for o in parse(page.text).find("select", id="transfer-to").find_all("option")
        ]
        assert options == ["", "admin@localhost", "boss@jovapos.test", "budi@jovapos.test"]
        csrf = _csrf(page.text)
        noted = await ani.post(f"{lina}/note", data={"csrf": csrf, "text": "Pelanggan lama"})
        assert notices((await ani.get(noted.headers["location"])).text) == [("done", "Note saved.")]
        # An admin taking over from a colleague is asked first.
        held = await boss.get(lina)
        asked = await boss.post(f"{lina}/claim", data={"csrf": _csrf(held.text)})
        assert asked.headers["location"] == f"{lina}?confirm=take_over#confirm"
        question = await boss.get(f"{lina}?confirm=take_over")
        box = parse(question.text).find(id="confirm")
        assert "Ambil alih dari ani@jovapos.test?" in box.text()
        assert box.find("input", name="sure").attrs["value"] == "1"
        async with inbox.server.core.services.store.transaction(readonly=True) as tx:
            still = await tx.get_conversation_by_id(ids["lina-kasir"])
        assert still is not None and still.claimed_by == "ani@jovapos.test"
        # Giving back is asked too; the yes does it, with a one-time message.
        asked = await ani.post(f"{lina}/release", data={"csrf": csrf})
        question = await ani.get(asked.headers["location"].split("#")[0])
        assert "Give this chat back to the bot?" in parse(question.text).find(id="confirm").text()
        moved = await ani.post(f"{lina}/transfer", data={"csrf": csrf, "to": "budi@jovapos.test"})
        assert moved.headers["location"] == "/console/inbox"
        shown = await ani.get("/console/inbox")
        assert notices(shown.text) == [("done", "The chat was handed over.")]
        assert notices((await ani.get("/console/inbox")).text) == []  # once
        taken = await boss.post(f"{lina}/claim", data={"csrf": _csrf(held.text), "sure": "1"})
        assert notices((await boss.get(taken.headers["location"])).text) == [
            ("done", "Anda sudah mengambil alih percakapan ini.")
        ]
        back = await boss.post(f"{lina}/release", data={"csrf": _csrf(held.text), "sure": "1"})
        assert back.headers["location"] == "/console/inbox"
        assert notices((await boss.get("/console/inbox")).text) == [
            ("done", "Percakapan sudah dikembalikan ke bot.")
        ]
        joko = f"/console/chats/{ids['joko-toko']}"
        claimed = await ani.post(f"{joko}/claim", data={"csrf": csrf})  # free: no question
        assert notices((await ani.get(claimed.headers["location"])).text) == [
            ("done", "This chat is yours now.")
        ]


async def test_a_refused_reply_keeps_what_was_typed(inbox: Inbox) -> None:
    lina = f"/console/chats/{inbox.ids['lina-kasir']}"
    typed = "Panjang sekali. " * 300  # over the 4,000 characters a reply may have
    async with httpx.AsyncClient(base_url=inbox.server.url) as ani:
        await _log_in(ani, "ani@jovapos.test")
        page = await ani.get(lina)
        refused = await ani.post(f"{lina}/reply", data={"csrf": _csrf(page.text), "text": typed})
        assert refused.status_code == 400
        assert notices(refused.text) == [("error", "Balasan kosong atau terlalu panjang.")]
        kept = parse(refused.text).find("textarea", id="reply-text").text()
        assert kept == " ".join(typed.split())
