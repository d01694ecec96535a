"""The access request's data copy: a sealed zip behind a page that asks for a
one-time code sent to the verified email, over real HTTP."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import httpx

from bot.requests import actions
from bot.requests.exports import ExportFile, complete_access
from bot.requests.lookup import find_request
from bot.settings import load_settings
from tests.conftest import CODE, Chat, FakeClock, mailbox_of
from tests.raw import raw
from tests.server import PUBLIC_URL, running_server

BACK_OFFICE = b"outlet,transactions\nToko Siti,1234\n"


async def test_data_copy_download(tmp_path: Path, clock: FakeClock) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), public_url=PUBLIC_URL)
    async with running_server(settings, clock=clock) as server, httpx.AsyncClient() as http:
        engine = server.core.engine
        box = mailbox_of(engine)
        chat = Chat(engine, address="siti")
        await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "Ingin tahu data saya")
        await chat.script("nanti", "1")
        ref = re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
        await actions.ask(engine.services, ref, "staff:ani", "KTP?")
        await actions.verify(engine.services, ref, "staff:ani")
        url = await complete_access(
            engine.services, ref, "staff:ani", [ExportFile("pos-export.csv", BACK_OFFICE)]
        )
        assert url.startswith(f"{PUBLIC_URL}/download/") and len(url.rsplit("/", 1)[1]) >= 22
        record = await find_request(engine.services.store, ref)
        assert record.status.value == "completed"
        db = raw(engine.services.store)
        async with db.execute(
            "SELECT params FROM notifications WHERE kind = 'completed' AND channel = 'terminal'"
        ) as cur:
            (params,) = await cur.fetchone()
        sealed = json.loads(params)["download_url"]
        assert url not in params and sealed.startswith("sealed:v1:")  # not in clear at rest
        assert engine.services.keyring.open_text(sealed) == url
        # The sealed zip is not readable on disk.
        on_disk = b"".join(p.read_bytes() for p in settings.blob_dir.rglob("*") if p.is_file())
        assert b"Toko Siti" not in on_disk and b"PK\x03\x04" not in on_disk

        page = server.url + url.removeprefix(PUBLIC_URL)
        got = await http.get(page)
        assert got.status_code == 200 and 'lang="id"' in got.text
        assert got.headers["cache-control"] == "no-store"
        assert (await http.post(page, data={"action": "code", "code": "123456"})).status_code == 403
        mails = len(box.mails)
        sent = await http.post(page, data={"action": "send"})
        assert sent.status_code == 200 and len(box.mails) == mails + 1
        assert box.mails[-1].to == "siti@example.com"
        again = await http.post(page, data={"action": "send"})
        assert again.status_code == 429  # a minute between codes
        code = box.latest_code()
        wrong = "000000" if code != "000000" else "111111"
        assert (await http.post(page, data={"action": "code", "code": wrong})).status_code == 403
        done = await http.post(page, data={"action": "code", "code": code})
        assert done.status_code == 200
        assert done.headers["content-type"] == "application/zip"
        assert f"jova-pos-data-{ref}.zip" in done.headers["content-disposition"]
        archive = zipfile.ZipFile(io.BytesIO(done.content))
        assert archive.read("back-office/pos-export.csv") == BACK_OFFICE
        data = json.loads(archive.read("privacybot/data.json"))
        assert data["requests"][0]["reference"] == ref
        assert any(m["text"] == "Ingin tahu data saya" for m in data["conversations"])
        assert "Ingin tahu data saya" in archive.read("privacybot/data.html").decode()
        # The code worked once.
        reused = await http.post(page, data={"action": "code", "code": code})
        assert reused.status_code == 403
        record = await find_request(engine.services.store, ref)
        assert [e.kind for e in record.events].count("downloaded") == 1
        # A link gets at most 5 codes an hour (its own allowance, apart from the chat's).
        for _ in range(4):
            clock.advance(seconds=61)
            assert (await http.post(page, data={"action": "send"})).status_code == 200
        clock.advance(seconds=61)
        flood = await http.post(page, data={"action": "send"})
        assert flood.status_code == 429 and "terlalu banyak kode" in flood.text
        assert len(box.mails) == mails + 5
        # Seven days later the link is gone.
        clock.advance(days=7, seconds=1)
        assert (await http.get(page)).status_code == 410
        assert (await http.post(page, data={"action": "send"})).status_code == 410


async def test_only_access_requests_take_an_export(engine, chat: Chat, clock) -> None:
    import pytest

    from bot.requests.lifecycle import IllegalMove

    await chat.script("1", "1", "Budi", "budi@example.com", CODE, "3", "nanti", "1")
    ref = re.search(r"DEL-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
    with pytest.raises(IllegalMove, match="not_access"):
        await complete_access(engine.services, ref, "staff:ani", [ExportFile("x.csv", b"x")])


async def test_purge_keeps_data_copies_until_their_link_expires(
    tmp_path: Path, clock: FakeClock
) -> None:
    import os
    import time

    from bot.housekeeping import purge

    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), public_url=PUBLIC_URL)
    async with running_server(settings, clock=clock) as server:
        engine = server.core.engine
        mailbox_of(engine)
        chat = Chat(engine, address="rina")
        await chat.script("2", "Rina", "rina@example.com", CODE, "lewati", "nanti", "1")
        ref = re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
        await actions.ask(engine.services, ref, "staff:ani", "KTP?")
        await actions.verify(engine.services, ref, "staff:ani")
        await complete_access(engine.services, ref, "staff:ani", [ExportFile("a.csv", b"a")])
        files = [p for p in settings.blob_dir.rglob("*") if p.is_file()]
        old = time.time() - 7200
        for path in files:
            os.utime(path, (old, old))
        await purge(engine.services, engine)
        assert all(p.exists() for p in files)  # still linked: not an orphan
        clock.advance(days=8)
        await purge(engine.services, engine)
        assert not any(p.exists() for p in files)  # the link expired: the zip goes


async def test_a_download_code_survives_a_process_killed_right_after_the_commit(
    settings, clock: FakeClock, monkeypatch
) -> None:
    import bot.requests.exports
    from bot.app import open_engine
    from bot.requests.exports import open_download, send_download_code
    from tests.conversation.test_identity import _worker_sends

    async with open_engine(settings, clock=clock) as first:
        box = mailbox_of(first)
        chat = Chat(first, address="siti")
        await chat.script("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti", "1")
        ref = re.search(r"ACC-[0-9A-Z]{6}", chat.text).group(0)  # type: ignore[union-attr]
        await actions.ask(first.services, ref, "staff:ani", "KTP?")
        await actions.verify(first.services, ref, "staff:ani")
        url = await complete_access(
            first.services, ref, "staff:ani", [ExportFile("a.csv", BACK_OFFICE)]
        )
        token = url.rsplit("/", 1)[1]
        mails = len(box.mails)

        async def dies(*args: object, **kwargs: object) -> int:
            return 0  # the process is killed after the commit, before the mail went

        monkeypatch.setattr(bot.requests.exports, "send_due_mail", dies)
        await send_download_code(first.services, token)  # the page says: a code was sent
        assert len(box.mails) == mails
    monkeypatch.undo()

    async with open_engine(settings, clock=clock) as second:  # restarted
        box = mailbox_of(second)
        await _worker_sends(second, box, 3)  # with the receipt's and completion's copies
        codes = [m for m in box.mails if re.search(r"^\d{6}$", m.text, re.MULTILINE)]
        assert [m.to for m in codes] == ["siti@example.com"]  # once
        name, data = await open_download(second.services, token, box.latest_code())
        assert name == f"jova-pos-data-{ref}.zip" and data.startswith(b"PK")
