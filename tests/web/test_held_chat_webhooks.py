"""A chat staff hold, through the Twilio webhook (signed, over real HTTP):
the customer's photo is fetched and kept for staff to open (the bot keeps
quiet, but the file is no longer dropped as "not needed"), and when staff ask
more about a request while they hold the chat, the customer's answer in it
moves the request to ``info_received``, words and file kept with it."""

from __future__ import annotations

from bot.domain.models import Channel
from bot.requests import actions
from bot.requests.lookup import find_request
from bot.staff import chats as staff_chats
from bot.staff.accounts import add_staff
from flows.types import RequestStatus
from tests.conftest import CODE, JPEG, PNG
from tests.integrations.test_twilio import REFERENCE, Twilio

STAFF = "ani@jovapos.test"


async def _filed_then_held(twilio: Twilio) -> tuple[str, int]:
    """An access request filed without ID proof; the customer asks for a
    person and ani takes the chat: (reference, chat id)."""
    for line in ("2", "Siti Aminah", "siti@example.com", CODE, "lewati", "nanti"):
        await twilio.say(line)
    reference = REFERENCE.search("\n".join(await twilio.say("1"))).group(0)  # type: ignore[union-attr]
    await twilio.say("staf")
    core = twilio.server.core
    await add_staff(core.services, STAFF, "agent", "kata-sandi-yang-panjang")
    async with core.services.store.transaction(readonly=True) as tx:
        found = await tx.get_conversation(Channel.WHATSAPP, "+6281234567890")
    assert found is not None
    await staff_chats.claim(core.services, core.channels, found.id, STAFF)
    return reference, found.id


async def _photo(twilio: Twilio, n: str, data: bytes, kind: str) -> list[str]:
    url = twilio.fake.add_media("MM" + n * 32, "ME" + n * 32, data, kind)
    return await twilio.say("", message_sid="MM" + n * 32, media=((url, kind),))


async def test_a_photo_sent_to_staff_is_kept_and_an_answer_reaches_the_asked_request(
    twilio: Twilio,
) -> None:
    services = twilio.server.core.services
    reference, chat_id = await _filed_then_held(twilio)

    # Nothing asked: the photo is fetched and kept with the chat, the bot quiet.
    assert await _photo(twilio, "4", PNG, "image/png") == []
    assert twilio.fake.cdn_requests
    async with services.store.transaction(readonly=True) as tx:
        lines = await tx.chat_messages(chat_id)
    (kept,) = [f for m in lines for f in m.files]
    assert kept.media_type == "image/png" and not kept.deleted
    assert (await find_request(services.store, reference)).status is RequestStatus.AWAITING_ID_PROOF

    # Staff ask while they hold the chat: the answer in it reaches the request.
    await actions.ask(services, reference, f"staff:{STAFF}", "Kirim foto KTP Anda")
    assert await twilio.say("Baik, sebentar") == []  # still staff's chat: the bot is quiet
    record = await find_request(services.store, reference)
    assert record.status is RequestStatus.INFO_RECEIVED
    await _photo(twilio, "5", JPEG, "image/jpeg")
    record = await find_request(services.store, reference)
    answers = [e.data for e in record.events if e.kind == "info_provided"]
    assert answers == [
        {"from": "needs_info", "to": "info_received", "text": "Baik, sebentar"},
        {"from": "info_received", "file": True},
    ]
    assert [a.media_type for a in record.attachments] == ["image/jpeg"]
    # Once staff act again the chat's words are the chat's alone.
    await actions.verify(services, reference, f"staff:{STAFF}")
    await twilio.say("Terima kasih")
    after = await find_request(services.store, reference)
    assert [e.kind for e in after.events].count("info_provided") == 2
