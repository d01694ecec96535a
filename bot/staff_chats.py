"""Staff taking over chats the bot handed over: claim, reply, note, release.

While a chat is claimed the bot stays quiet (the engine records the
customer's messages and answers nothing). Replies and the join/leave notices
are recorded as the conversation's outbound messages, then delivered through
the customer's channel. Releasing gives the chat back to the bot at the step
it was waiting on.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.channels import Core
from bot.models import ConversationRecord, OutboundMessage
from flows.types import Reply

MAX_REPLY = 4000


class ChatError(ValueError):
    pass


async def _say(
    core: Core, conversation: ConversationRecord, replies: Sequence[tuple[str, str]]
) -> None:
    """Record (key, text) messages to the customer, then deliver them."""
    engine = core.engine
    now = engine.clock()
    async with engine.store.transaction() as tx:
        ids = await tx.record_outbound(
            conversation.id,
            None,
            conversation.language,
            conversation.state,
            [(key, text, ()) for key, text in replies],
            now,
        )
    outbound = [
        OutboundMessage(
            conversation.channel, conversation.address, key, text, conversation.language, id_
        )
        for id_, (key, text) in zip(ids, replies, strict=True)
    ]
    await core.deliver(outbound, proactive=False)


async def _held(core: Core, conversation_id: int, staff: str) -> ConversationRecord:
    async with core.engine.store.transaction(readonly=True) as tx:
        conversation = await tx.get_conversation_by_id(conversation_id)
    if conversation is None:
        raise ChatError("no such chat")
    if conversation.claimed_by != staff:
        raise ChatError("claim the chat first")
    return conversation


async def claim(core: Core, conversation_id: int, staff: str) -> None:
    engine = core.engine
    async with engine.store.transaction() as tx:
        conversation = await tx.get_conversation_by_id(conversation_id)
        if conversation is None:
            raise ChatError("no such chat")
        if conversation.claimed_by and conversation.claimed_by != staff:
            raise ChatError(f"{conversation.claimed_by} already has this chat")
        conversation.claimed_by = staff
        await tx.save_conversation(conversation)
    text = engine.catalogue.render(conversation.language, Reply("staff.joined"))
    await _say(core, conversation, [("staff.joined", text)])


async def reply(core: Core, conversation_id: int, staff: str, text: str) -> None:
    text = text.strip()
    if not text or len(text) > MAX_REPLY:
        raise ChatError(f"a reply has 1 to {MAX_REPLY} characters")
    conversation = await _held(core, conversation_id, staff)
    await _say(core, conversation, [("staff.reply", text)])


async def note(core: Core, conversation_id: int, staff: str, text: str) -> None:
    """An internal note: staff see it in the transcript; the customer never does."""
    text = text.strip()
    if not text:
        raise ChatError("the note is empty")
    await _held(core, conversation_id, staff)
    async with core.engine.store.transaction() as tx:
        await tx.add_staff_note(conversation_id, staff, text[:MAX_REPLY], core.engine.clock())


async def transfer(core: Core, conversation_id: int, staff: str, to: str) -> None:
    conversation = await _held(core, conversation_id, staff)
    async with core.engine.store.transaction() as tx:
        target = await tx.staff_by_email(to.strip())
        if target is None:
            raise ChatError(f"no staff account {to.strip()}")
        conversation.claimed_by = target["email"]
        await tx.save_conversation(conversation)
        await tx.add_staff_note(
            conversation_id, staff, f"-> {target['email']}", core.engine.clock()
        )


def canned(core: Core, language: str) -> dict[str, str]:
    """Ready answers staff can pick, in the customer's language."""
    texts = core.engine.catalogue.texts.get(language, {})
    return {k.removeprefix("canned."): v for k, v in texts.items() if k.startswith("canned.")}


async def release(core: Core, conversation_id: int, staff: str) -> None:
    engine = core.engine
    conversation = await _held(core, conversation_id, staff)
    async with engine.store.transaction() as tx:
        conversation.claimed_by = None
        conversation.waiting_staff_since = None
        if conversation.state == "staff":
            back = conversation.slots.pop("_return", None)
            conversation.state = back if back in engine.dialogue.states else "menu"
        await tx.save_conversation(conversation)
    text = engine.catalogue.render(conversation.language, Reply("staff.back_to_bot"))
    await _say(core, conversation, [("staff.back_to_bot", text)])
