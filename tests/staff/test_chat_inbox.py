"""The chat use cases behind the inbox, whatever the door: ready answers
(only admins change them; the configured ones are copied in once), whom a
chat can be handed to, and a file from a chat opened only with its chat and
only with the view recorded."""

from __future__ import annotations

import pytest

from bot.conversation.engine import Engine
from bot.delivery.channels import Channels
from bot.domain.models import Channel
from bot.staff import answers, chats
from bot.staff.accounts import add_staff, change_staff
from tests.conftest import CODE, PNG, Chat, FakeClock, file_of
from tests.raw import sql

PASSWORD = "kata-sandi-yang-panjang"


@pytest.fixture
async def staffed(engine: Engine) -> Engine:
    for email, role in (
        ("ani@jovapos.test", "agent"),
        ("boss@jovapos.test", "admin"),
        ("rudi@jovapos.test", "agent"),
    ):
        await add_staff(engine.services, email, role, PASSWORD)
    await change_staff(engine.services, "boss@jovapos.test", "rudi@jovapos.test", "disable")
    return engine


async def test_only_admins_change_ready_answers_and_the_configured_ones_come_once(
    staffed: Engine,
) -> None:
    services = staffed.services
    seeded = await answers.ready_answers(services)
    configured = answers.configured(services)
    assert [a.key for a in seeded] == list(configured)
    assert seeded[0].text("en") == configured[seeded[0].key][1]  # type: ignore[index]
    for who in ("ani@jovapos.test", "rudi@jovapos.test", "nobody@jovapos.test"):
        with pytest.raises(answers.AnswerError) as refused:
            await answers.save_answer(services, who, None, "Halo", "Hello")
        assert refused.value.key == "admin_only"
        with pytest.raises(answers.AnswerError):
            await answers.delete_answer(services, who, seeded[0].id)
    with pytest.raises(answers.AnswerError) as refused:
        await answers.save_answer(services, "boss@jovapos.test", None, "Halo", "   ")
    assert (refused.value.key, refused.value.params) == ("answer_length", {"maximum": 4000})
    await answers.save_answer(services, "boss@jovapos.test", None, "Sampai jumpa", "Goodbye")
    for answer in seeded:
        await answers.delete_answer(services, "boss@jovapos.test", answer.id)
    (left,) = await answers.ready_answers(services)  # the configured ones are not back
    assert (left.key, left.text("id"), left.text("en")) == (None, "Sampai jumpa", "Goodbye")
    assert left.updated_by == "boss@jovapos.test"
    assert answers.find_answer([left], str(left.id)) == left
    assert answers.find_answer([left], "greeting") is None


async def test_a_chat_goes_only_to_active_colleagues(staffed: Engine) -> None:
    services = staffed.services
    assert "boss@jovapos.test" in await chats.colleagues(services, "ani@jovapos.test")
    assert "ani@jovapos.test" not in await chats.colleagues(services, "ANI@jovapos.test")
    assert "rudi@jovapos.test" not in await chats.colleagues(services, "boss@jovapos.test")


async def test_a_chat_file_opens_only_in_its_chat_and_every_view_is_recorded(
    staffed: Engine,
) -> None:
    services = staffed.services
    lina = Chat(staffed, address="lina")
    await lina.say("staf")
    await Chat(staffed, address="joko").say("staf")
    async with services.store.transaction(readonly=True) as tx:
        held = await tx.get_conversation(Channel.TERMINAL, "lina")
        other = await tx.get_conversation(Channel.TERMINAL, "joko")
    assert held is not None and other is not None
    channels = Channels()
    channels.attach(services)
    await chats.claim(services, channels, held.id, "ani@jovapos.test")
    await lina.say("ini fotonya", file_of(PNG))  # kept, although the bot keeps quiet
    async with services.store.transaction(readonly=True) as tx:
        (message,) = [m for m in await tx.chat_messages(held.id) if m.text == "ini fotonya"]
    (sent,) = message.files
    found, data = await chats.open_chat_file(services, held.id, sent.id, "ani@jovapos.test")
    assert data.startswith(b"\x89PNG") and found.media_type == "image/png"
    with pytest.raises(chats.ChatError) as refused:
        await chats.open_chat_file(services, other.id, sent.id, "ani@jovapos.test")
    assert refused.value.key == "no_file"
    async with services.store.transaction() as tx:
        await tx.mark_attachments_deleted([sent.token], services.clock())
    with pytest.raises(chats.ChatError):
        await chats.open_chat_file(services, held.id, sent.id, "ani@jovapos.test")
    views = sql(services.settings.database_path, "SELECT viewer, purpose FROM attachment_views")
    assert views == [("ani@jovapos.test", "console_chat")]


async def test_chat_files_no_request_took_go_after_the_retention_period(
    staffed: Engine, clock: FakeClock
) -> None:
    from bot.staff.chats import purge_chat_files

    services = staffed.services
    siti = Chat(staffed, address="siti")  # files a request with ID proof: its own rule
    await siti.script("4", "Siti Aminah", "siti@example.com", CODE, "1", "Tidak mau promosi")
    await siti.say("", file_of(PNG))
    await siti.say("1")
    lina = Chat(staffed, address="lina")
    await lina.say("staf")
    async with services.store.transaction(readonly=True) as tx:
        held = await tx.get_conversation(Channel.TERMINAL, "lina")
    assert held is not None
    channels = Channels()
    channels.attach(services)
    await chats.claim(services, channels, held.id, "ani@jovapos.test")
    await lina.say("", file_of(PNG))
    clock.advance(days=services.settings.id_proof_retention_days - 1)
    assert await purge_chat_files(services) == 0
    clock.advance(days=2)
    assert await purge_chat_files(services) == 1
    async with services.store.transaction(readonly=True) as tx:
        (kept,) = [f for m in await tx.chat_messages(held.id) for f in m.files]
        proof = await tx.live_attachment_tokens()
    assert kept.deleted and kept.token not in proof
    assert len(proof) == 1  # Siti's ID proof stays (until its request's retention)
