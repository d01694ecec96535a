"""End to end through the Twilio webhook (signed, over real HTTP): a customer
answers staff's "ask" on WhatsApp with words and then a photo, and on SMS
with words; the request shows ``info_received`` with every answer kept."""

from __future__ import annotations

from bot.requests import actions
from bot.requests.lookup import find_request
from flows.types import RequestStatus
from tests.conftest import CODE, JPEG
from tests.integrations.test_twilio import CUSTOMER, REFERENCE, Twilio


async def _filed(twilio: Twilio, sender: str) -> str:
    """An access request filed without ID proof, then asked about by staff."""
    for line in ("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti"):
        await twilio.say(line, sender=sender)
    bodies = await twilio.say("1", sender=sender)
    ref = REFERENCE.search("\n".join(bodies)).group(0)  # type: ignore[union-attr]
    engine = twilio.server.core.engine
    await actions.ask(engine.services, ref, "staff:ani@jovapos.test", "Kirim foto KTP Anda")
    return ref


async def test_a_whatsapp_answer_in_words_then_a_photo(twilio: Twilio) -> None:
    store = twilio.server.core.services.store
    ref = await _filed(twilio, f"whatsapp:{CUSTOMER}")
    assert (await find_request(store, ref)).status is RequestStatus.NEEDS_INFO

    bodies = await twilio.say("Sebentar, saya foto dulu")
    assert ref in bodies[0]  # "information for {reference} received"
    assert (await find_request(store, ref)).status is RequestStatus.INFO_RECEIVED

    msid = "MM" + "c" * 32
    url = twilio.fake.add_media(msid, "ME" + "d" * 32, JPEG, "image/jpeg")
    bodies = await twilio.say("", message_sid=msid, media=((url, "image/jpeg"),))
    assert ref in bodies[0]
    assert twilio.fake.cdn_requests  # fetched: the asked request takes a file
    record = await find_request(store, ref)
    assert record.status is RequestStatus.INFO_RECEIVED
    answers = [(e.actor, e.data) for e in record.events if e.kind == "info_provided"]
    assert answers == [
        (
            "customer",
            {"from": "needs_info", "to": "info_received", "text": "Sebentar, saya foto dulu"},
        ),
        ("customer", {"from": "info_received", "file": True}),
    ]
    assert [a.media_type for a in record.attachments] == ["image/jpeg"]


async def test_an_sms_answer(twilio: Twilio) -> None:
    store = twilio.server.core.services.store
    ref = await _filed(twilio, CUSTOMER)
    bodies = await twilio.say("Nomor HP lama saya 0812 0000 1111", sender=CUSTOMER)
    assert ref in bodies[0]
    record = await find_request(store, ref)
    assert record.status is RequestStatus.INFO_RECEIVED
    assert record.events[-1].data["text"] == "Nomor HP lama saya 0812 0000 1111"
    # Staff verify: the customer's next message is read as usual again.
    await actions.verify(twilio.server.core.services, ref, "staff:ani@jovapos.test")
    await twilio.say("menu", sender=CUSTOMER)
    after = await find_request(store, ref)
    assert after.status is RequestStatus.IN_PROGRESS
    assert [e.kind for e in after.events].count("info_provided") == 1
