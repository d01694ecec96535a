"""WhatsApp and SMS through Twilio: signed webhooks over real HTTP into the real
app, the real ``twilio`` client against a local fake REST API and media CDN."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from xml.etree import ElementTree

import httpx
import pytest

from bot.delivery.channels import opted_out
from bot.domain.models import Channel
from bot.infra.images import strip_metadata
from bot.requests.lookup import find_request, list_requests
from bot.settings import load_settings
from flows.types import RequestStatus
from integrations.twilio.adapter import TwilioAdapter
from integrations.twilio.text import segments
from tests.conftest import CODE, JPEG, PDF, PNG, FakeClock, Mailbox, mailbox_of
from tests.fakes.twilio_api import FakeTwilio, signed_form
from tests.raw import raw
from tests.server import PUBLIC_URL, RunningServer, running_server

CUSTOMER = "+6281234567890"
WHATSAPP_NUMBER = "whatsapp:+14155238886"
SMS_NUMBER = "+15005550006"
REFERENCE = re.compile(r"\b(DEL|ACC|COR|RES)-[0-9A-HJKMNP-TV-Z]{6}\b")


@dataclass
class Twilio:
    fake: FakeTwilio
    server: RunningServer
    http: httpx.AsyncClient
    mailbox: Mailbox

    async def post(
        self, path: str, params: dict[str, str], sign: bool = True, token: str | None = None
    ) -> httpx.Response:
        headers = (
            signed_form(self.server.public(path), params, token or self.fake.auth_token)
            if sign
            else {"Content-Type": "application/x-www-form-urlencoded"}
        )
        return await self.http.post(self.server.url + path, data=params, headers=headers)

    async def say(
        self,
        body: str,
        sender: str = f"whatsapp:{CUSTOMER}",
        message_sid: str | None = None,
        media: tuple = (),
        **extra: str,
    ) -> list[str]:
        """Send ``body`` (``CODE``: the code last mailed); the TwiML replies."""
        if body == CODE:
            body = self.mailbox.latest_code()
        to = WHATSAPP_NUMBER if sender.startswith("whatsapp:") else SMS_NUMBER
        params = self.fake.inbound_params(sender, to, body, message_sid, media)
        params.update(extra)
        response = await self.post("/webhooks/twilio", params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        await self.server.core.engine.flush_mail()  # the code mail goes after the answer
        return twiml_bodies(response.text)


async def eventually(condition, timeout: float = 5.0) -> None:
    """Media is deleted from Twilio after the answer, in the background."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def twiml_bodies(xml: str) -> list[str]:
    root = ElementTree.fromstring(xml)
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]


def twiml_actions(xml: str) -> list[str]:
    return [m.attrib.get("action", "") for m in ElementTree.fromstring(xml).iter("Message")]


@pytest.fixture
async def twilio(tmp_path, clock: FakeClock) -> AsyncIterator[Twilio]:
    async with FakeTwilio() as fake:
        settings = load_settings(
            environ={},
            data_dir=str(tmp_path / "data"),
            public_url=PUBLIC_URL,
            twilio_account_sid=fake.account_sid,
            twilio_auth_token=fake.auth_token,
            twilio_whatsapp_number=WHATSAPP_NUMBER,
            twilio_sms_number=SMS_NUMBER,
            twilio_api_base_url=fake.base_url,
        )
        async with (
            running_server(settings, lambda core: [TwilioAdapter(core)], clock) as server,
            httpx.AsyncClient(timeout=20) as http,
        ):
            # Listen to the development mailer before any email is asked for.
            yield Twilio(fake, server, http, mailbox_of(server.core.engine))


async def _count_inbound(server: RunningServer) -> int:
    db = raw(server.core.services.store)
    async with db.execute("SELECT count(*) FROM inbound_messages") as cur:
        return (await cur.fetchone())[0]


async def test_whole_deletion_on_whatsapp_with_photo(twilio: Twilio) -> None:
    assert "JOVA POS" in (await twilio.say("halo"))[0]
    await twilio.say("hapus akun")
    await twilio.say("1")
    await twilio.say("Budi Santoso")
    bodies = await twilio.say("budi@example.com")
    assert "kode 6 angka" in bodies[-1]
    assert twilio.mailbox.mails[-1].to == "budi@example.com"
    code = twilio.mailbox.latest_code()
    assert all(code not in body for body in bodies)  # the code only goes by email
    bodies = await twilio.say(code)
    assert bodies[0].startswith("Email Anda sudah terverifikasi.")
    assert "Apa alasan Anda menghapus akun?" in bodies[-1]
    bodies = await twilio.say("2")
    assert "KTP" in bodies[0]
    msid = "MM" + "a" * 32
    url = twilio.fake.add_media(msid, "ME" + "b" * 32, JPEG, "image/jpeg")
    bodies = await twilio.say("", message_sid=msid, media=((url, "image/jpeg"),))
    assert "Budi Santoso" in bodies[0]  # the summary
    # Downloaded with credentials, which never reached the CDN, then deleted from Twilio.
    assert twilio.fake.cdn_requests and all(
        "authorization" not in {k.lower() for k in r["headers"]} for r in twilio.fake.cdn_requests
    )
    await eventually(lambda: (msid, "ME" + "b" * 32) in twilio.fake.deleted_media)
    bodies = await twilio.say("1")
    reference = REFERENCE.search("\n".join(bodies)).group(0)  # type: ignore[union-attr]
    assert reference.startswith("DEL-")
    record = await find_request(twilio.server.core.services.store, reference)
    assert record.channel is Channel.WHATSAPP
    assert record.customer_address == CUSTOMER
    assert record.status is RequestStatus.VERIFYING
    # What is kept is the photo without its metadata (sealed on disk).
    (attachment,) = record.attachments
    stored = twilio.server.core.services.blobs.get(attachment.token)
    assert stored == strip_metadata(JPEG, "image/jpeg")
    assert attachment.sha256 == hashlib.sha256(stored).hexdigest()
    for body in bodies:
        assert len(body) <= 1600


async def test_replies_carry_status_callbacks_that_record_delivery(twilio: Twilio) -> None:
    params = twilio.fake.inbound_params(f"whatsapp:{CUSTOMER}", WHATSAPP_NUMBER, "halo")
    response = await twilio.post("/webhooks/twilio", params)
    (action,) = twiml_actions(response.text)
    assert action.startswith(f"{PUBLIC_URL}/webhooks/twilio/status?o=")
    path = action.removeprefix(PUBLIC_URL)
    status = {
        "MessageSid": "SM" + "c" * 32,
        "MessageStatus": "delivered",
        "AccountSid": twilio.fake.account_sid,
    }
    answer = await twilio.post(path, status)
    assert answer.status_code == 204
    db = raw(twilio.server.core.services.store)
    async with db.execute(
        "SELECT delivery_status, provider_id, sent_at FROM outbound_messages"
    ) as cur:
        rows = await cur.fetchall()
    assert [tuple(r)[:2] for r in rows] == [("delivered", "SM" + "c" * 32)]
    assert rows[0][2] is not None
    unsigned = await twilio.post(path, status, sign=False)
    assert unsigned.status_code == 403


async def test_unsigned_and_wrongly_signed_webhooks_are_refused(twilio: Twilio) -> None:
    params = twilio.fake.inbound_params(f"whatsapp:{CUSTOMER}", WHATSAPP_NUMBER, "halo")
    assert (await twilio.post("/webhooks/twilio", params, sign=False)).status_code == 403
    wrong = await twilio.post("/webhooks/twilio", params, token="not-the-token")
    assert wrong.status_code == 403
    tampered = dict(params)
    headers = signed_form(twilio.server.public("/webhooks/twilio"), params, twilio.fake.auth_token)
    tampered["Body"] = "hapus akun"
    response = await twilio.http.post(
        twilio.server.url + "/webhooks/twilio", data=tampered, headers=headers
    )
    assert response.status_code == 403
    assert await _count_inbound(twilio.server) == 0


async def test_malformed_and_oversized_bodies(twilio: Twilio) -> None:
    url = twilio.server.url + "/webhooks/twilio"
    headers = {"X-Twilio-Signature": "x", "Content-Type": "application/x-www-form-urlencoded"}
    bad = await twilio.http.post(url, content=b"\xff\xfe=%%%", headers=headers)
    assert bad.status_code == 400
    not_form = await twilio.http.post(
        url, content=b"{}", headers={"X-Twilio-Signature": "x", "Content-Type": "application/json"}
    )
    assert not_form.status_code == 400
    big = await twilio.http.post(url, content=b"a=" + b"x" * (1024 * 1024 + 10), headers=headers)
    assert big.status_code == 413
    # Signed, well-formed, but without MessageSid.
    params = {"From": f"whatsapp:{CUSTOMER}", "Body": "halo"}
    assert (await twilio.post("/webhooks/twilio", params)).status_code == 400
    assert await _count_inbound(twilio.server) == 0


async def test_same_message_sid_three_times_is_processed_once(twilio: Twilio) -> None:
    await twilio.say("halo")
    first = await twilio.say("2", message_sid="SM" + "d" * 32)
    second = await twilio.say("2", message_sid="SM" + "d" * 32)
    third = await twilio.say("2", message_sid="SM" + "d" * 32)
    assert first == second == third
    assert await _count_inbound(twilio.server) == 2
    async with twilio.server.core.services.store.transaction() as tx:
        conversation = await tx.get_conversation(Channel.WHATSAPP, CUSTOMER)
    assert conversation is not None and conversation.state == "access.full_name"


async def test_media_download_failure_asks_again(twilio: Twilio) -> None:
    for line in ("2", "Siti Aminah", "siti@example.com", CODE, "lewati"):
        await twilio.say(line)
    msid, mid = "MM" + "e" * 32, "ME" + "f" * 32
    url = twilio.fake.add_media(msid, mid, PNG, "image/png")
    twilio.fake.fail_media(mid, status=500)
    bodies = await twilio.say("", message_sid=msid, media=((url, "image/png"),))
    assert "kirim ulang" in bodies[0].lower()
    assert (msid, mid) not in twilio.fake.deleted_media  # the customer sends it again
    msid2 = "MM" + "1" * 32
    url2 = twilio.fake.add_media(msid2, None, PDF, "application/pdf")
    bodies = await twilio.say("", message_sid=msid2, media=((url2, "application/pdf"),))
    assert "Siti Aminah" in bodies[0]


async def test_media_at_another_step_is_not_downloaded(twilio: Twilio) -> None:
    await twilio.say("halo")
    msid, mid = "MM" + "2" * 32, "ME" + "3" * 32
    url = twilio.fake.add_media(msid, mid, JPEG)
    bodies = await twilio.say("", message_sid=msid, media=(url,))
    assert "tidak memerlukan file" in bodies[0] or "tidak kami simpan" in bodies[0]
    assert twilio.fake.cdn_requests == []
    await eventually(lambda: (msid, mid) in twilio.fake.deleted_media)


async def test_too_large_media_is_refused(twilio: Twilio) -> None:
    for line in ("2", "Siti Aminah", "siti@example.com", CODE, "lewati"):
        await twilio.say(line)
    msid = "MM" + "4" * 32
    big = JPEG + b"\x00" * (11 * 1024 * 1024)
    url = twilio.fake.add_media(msid, None, big)
    bodies = await twilio.say("", message_sid=msid, media=(url,))
    assert "10 MB" in bodies[0]
    async with twilio.server.core.services.store.transaction() as tx:
        conversation = await tx.get_conversation(Channel.WHATSAPP, CUSTOMER)
    assert conversation is not None and conversation.state == "access.id_proof"


async def test_opt_out_and_back_in(twilio: Twilio) -> None:
    engine = twilio.server.core.engine
    bodies = await twilio.say("STOP", sender=CUSTOMER)
    assert "START" in bodies[0]
    assert await opted_out(engine.services, Channel.SMS, CUSTOMER)
    bodies = await twilio.say("start", sender=CUSTOMER)
    assert "STOP" in bodies[0]
    assert not await opted_out(engine.services, Channel.SMS, CUSTOMER)
    bodies = await twilio.say("berhenti", sender=f"whatsapp:{CUSTOMER}")
    assert await opted_out(engine.services, Channel.WHATSAPP, CUSTOMER)
    # Twilio answered this one itself (OptOutType): recorded, no second answer.
    bodies = await twilio.say("cancel", sender="+6289999999", OptOutType="STOP")
    assert bodies == []
    assert await opted_out(engine.services, Channel.SMS, "+6289999999")


async def test_sms_gets_an_upload_link_and_short_texts(twilio: Twilio) -> None:
    sms = CUSTOMER
    all_bodies = []
    for line in ("halo", "2", "Siti Aminah", "siti@example.com", CODE):
        all_bodies += await twilio.say(line, sender=sms)
    all_bodies += await twilio.say("lewati", sender=sms, message_sid="SM" + "7" * 32)
    link_text = all_bodies[-1]
    match = re.search(r"https://bot\.jovapos\.test/upload/([A-Za-z0-9_-]+)", link_text)
    assert match, link_text
    assert len(match.group(1)) >= 22  # at least 128 bits of randomness
    token = match.group(1)
    # The link is not kept in clear; a retried webhook still gets the same answer.
    db = raw(twilio.server.core.services.store)
    async with db.execute("SELECT text FROM outbound_messages") as cur:
        assert not any(token in row[0] for row in await cur.fetchall())
    again_answer = await twilio.say("lewati", sender=sms, message_sid="SM" + "7" * 32)
    assert again_answer[-1] == link_text
    page = await twilio.http.get(f"{twilio.server.url}/upload/{token}")
    assert page.status_code == 200 and 'lang="id"' in page.text
    assert page.headers["cache-control"] == "no-store"
    posted = await twilio.http.post(
        f"{twilio.server.url}/upload/{token}", files={"file": ("ktp.png", PNG, "image/png")}
    )
    assert posted.status_code == 200, posted.text
    # The next step went out by SMS through the REST API, with a status callback.
    (sent,) = await twilio.fake.wait_for_messages(1)
    assert sent["to"] == sms and sent["from"] == SMS_NUMBER
    assert "Siti Aminah" in sent["body"]
    assert sent["status_callback"].startswith(f"{PUBLIC_URL}/webhooks/twilio/status?o=")
    again = await twilio.http.get(f"{twilio.server.url}/upload/{token}")
    assert again.status_code == 410
    all_bodies += await twilio.say("1", sender=sms)
    for body in all_bodies:
        assert segments(body) <= 3, body
    filed = await list_requests(twilio.server.core.services.store)
    assert filed[0].channel is Channel.SMS and filed[0].status is RequestStatus.VERIFYING


async def test_sms_texts_stay_within_three_segments_in_both_languages(twilio: Twilio) -> None:
    scripts = {
        "+628111": [
            "halo",
            "1",
            "1",
            "Budi Santoso",
            "budi@example.com",
            CODE,
            "3",
            "nanti",
            "1",
            "5",
        ],
        "+628222": [
            "EN",
            "4",
            "Dewi Lestari",
            "dewi@example.com",
            CODE,
            "1, 4",
            "Please stop sharing my data",
            "later",
            "1",
        ],
    }
    for sender, lines in scripts.items():
        for line in lines:
            for body in await twilio.say(line, sender=sender):
                assert segments(body) <= 3, body
    # Both scripts went all the way (the code prompt was answered with the code).
    filed = await list_requests(twilio.server.core.services.store)
    assert sorted((r.type.value, r.customer_address) for r in filed) == [
        ("deletion", "+628111"),
        ("restriction", "+628222"),
    ]


async def test_healthz_lists_the_channels(twilio: Twilio) -> None:
    health = (await twilio.http.get(twilio.server.url + "/healthz")).json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["channels"]["whatsapp"]["enabled"] is True
    assert health["channels"]["sms"]["enabled"] is True
    assert health["channels"]["telegram"]["enabled"] is False


async def test_an_undelivered_status_callback_moves_a_notification_to_sms(
    twilio: Twilio,
) -> None:
    from bot.delivery.notifications import send_due
    from bot.requests import actions
    from tests.conftest import mailbox_of

    engine = twilio.server.core.engine
    box = mailbox_of(engine)
    await twilio.say("2")
    await twilio.say("Siti Aminah")
    await twilio.say("siti@example.com")
    await twilio.say(box.latest_code())
    await twilio.say("lewati")
    await twilio.say("nanti")
    bodies = await twilio.say("1")
    ref = REFERENCE.search("\n".join(bodies)).group(0)  # type: ignore[union-attr]
    await actions.ask(engine.services, ref, "staff:ani", "KTP?")
    await send_due(twilio.server.core.services, twilio.server.core.channels)
    (whatsapp,) = twilio.fake.messages
    assert whatsapp["to"] == f"whatsapp:{CUSTOMER}"
    callback = {
        "MessageSid": whatsapp["sid"],
        "MessageStatus": "undelivered",
        "ErrorCode": "63016",
        "AccountSid": twilio.fake.account_sid,
    }
    answer = await twilio.post("/webhooks/twilio/status", callback)
    assert answer.status_code == 204
    await send_due(twilio.server.core.services, twilio.server.core.channels)
    assert [m["to"] for m in twilio.fake.messages] == [f"whatsapp:{CUSTOMER}", CUSTOMER]
    assert "KTP?" in twilio.fake.messages[-1]["body"]


async def _held_by_ani(twilio: Twilio) -> int:
    """The WhatsApp customer asks for a person and ani takes the chat: its id."""
    from bot.staff import chats as staff_chats

    core = twilio.server.core
    await twilio.say("staf")
    async with core.services.store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation(Channel.WHATSAPP, CUSTOMER)
    assert conversation is not None
    await staff_chats.claim(core.services, core.channels, conversation.id, "ani@jovapos.test")
    return conversation.id


async def test_an_undelivered_staff_reply_goes_on_by_sms_once(twilio: Twilio) -> None:
    from urllib.parse import urlsplit

    from bot.staff import chats as staff_chats

    core = twilio.server.core
    chat_id = await _held_by_ani(twilio)
    assert (
        await staff_chats.reply(
            core.services, core.channels, chat_id, "ani@jovapos.test", "Halo Budi"
        )
        == "whatsapp"
    )
    reply = twilio.fake.messages[-1]
    assert reply["body"] == "Halo Budi" and reply["to"] == f"whatsapp:{CUSTOMER}"
    callback_path = urlsplit(reply["status_callback"])
    path = f"{callback_path.path}?{callback_path.query}"
    report = {
        "MessageSid": reply["sid"],
        "MessageStatus": "undelivered",
        "ErrorCode": "63024",
        "To": f"whatsapp:{CUSTOMER}",
        "AccountSid": twilio.fake.account_sid,
    }
    # Twilio sends the report twice at once (a retry): the reply goes on once.
    first, second = await asyncio.gather(twilio.post(path, report), twilio.post(path, report))
    assert (first.status_code, second.status_code) == (204, 204)
    sms = [m for m in twilio.fake.messages if m["to"] == CUSTOMER]
    assert [m["body"] for m in sms] == ["Halo Budi"]
    async with core.services.store.transaction(readonly=True) as tx:
        lines = await tx.transcript(chat_id)
    reply_id = path.split("o=")[1]
    trail = [(m.who, m.text) for m in lines if m.who.startswith("event:")]
    assert trail[-2:] == [
        ("event:ani@jovapos.test", f"undelivered {reply_id} whatsapp"),
        ("event:ani@jovapos.test", f"rerouted {reply_id} -> sms"),
    ]


async def test_a_staff_reply_sent_as_a_template_is_found_by_its_delivery_report(
    twilio: Twilio,
) -> None:
    from urllib.parse import urlsplit

    from bot.staff import chats as staff_chats

    core = twilio.server.core
    chat_id = await _held_by_ani(twilio)
    core.services.clock.advance(hours=25)  # type: ignore[attr-defined]
    core.settings.twilio_templates["staff_reply"] = "HX" + "3" * 32
    route = await staff_chats.reply(
        core.services, core.channels, chat_id, "ani@jovapos.test", "Halo lagi"
    )
    assert route == "whatsapp_template"
    template = twilio.fake.messages[-1]
    callback = urlsplit(template["status_callback"])
    assert callback.query.startswith("o=")  # the report can name the reply it is about
    report = {
        "MessageSid": template["sid"],
        "MessageStatus": "failed",
        "ErrorCode": "63016",
        "To": f"whatsapp:{CUSTOMER}",
        "AccountSid": twilio.fake.account_sid,
    }
    answer = await twilio.post(f"{callback.path}?{callback.query}", report)
    assert answer.status_code == 204
    assert twilio.fake.messages[-1]["to"] == CUSTOMER  # gone on by SMS
    assert twilio.fake.messages[-1]["body"] == "Halo lagi"


async def test_a_batch_twilio_cuts_short_records_the_replies_that_left_whole(
    twilio: Twilio,
) -> None:
    """Twilio refuses the third message of a batch: the reply that left whole
    is recorded with its SID (not sent twice by a retry); the reply whose
    second part was refused is not recorded as sent (the customer got half)."""
    from bot.domain.models import OutboundMessage

    core = twilio.server.core
    await twilio.say("halo")
    whole, halves = "satu " * 300, "dua " * 750  # one message; two messages
    async with core.services.store.transaction() as tx:
        conversation = await tx.get_conversation(Channel.WHATSAPP, CUSTOMER)
        assert conversation is not None
        ids = await tx.record_outbound(
            conversation.id,
            None,
            "id",
            conversation.state,
            [("staff.reply", whole, ()), ("staff.reply", halves, ())],
            core.services.clock(),
            author="ani@jovapos.test",
        )
    replies = [
        OutboundMessage(Channel.WHATSAPP, CUSTOMER, "staff.reply", text, "id", id_)
        for id_, text in zip(ids, (whole, halves), strict=True)
    ]
    (adapter,) = core.channels.adapters
    assert isinstance(adapter, TwilioAdapter)
    real_create = adapter._create
    calls = 0

    async def third_refused(**params: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            twilio.fake.fail_next_messages(1, status=400)
        return await real_create(**params)

    adapter._create = third_refused  # type: ignore[method-assign]
    before = len(twilio.fake.messages)
    assert not await core.channels.deliver(replies, proactive=False)
    sent = twilio.fake.messages[before:]
    assert calls == 3 and [m["body"].split()[0] for m in sent] == ["satu", "dua"]
    db = raw(core.services.store)
    async with db.execute(
        "SELECT id, sent_at IS NOT NULL, provider_id FROM outbound_messages WHERE id IN (?, ?)"
        " ORDER BY id",
        ids,
    ) as cur:
        rows = [tuple(r) for r in await cur.fetchall()]
    assert rows == [(ids[0], 1, sent[0]["sid"]), (ids[1], 0, None)]
