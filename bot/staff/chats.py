"""Staff taking over chats the bot handed over: claim, reply, note, release.

While a chat is claimed the bot stays quiet (the engine records the
customer's messages and answers nothing). Replies and the join/leave notices
are recorded as the conversation's outbound messages, then delivered through
the customer's channel. Releasing gives the chat back to the bot at the step
it was waiting on.

How a message from staff reaches the customer (WhatsApp's 24-hour window,
then a template, SMS or email, as notifications go) is delivery's business:
``bot.delivery.staff_messages``. A reply no route can carry is refused here
with the reason, so staff know the customer did not get it.
"""

from __future__ import annotations

from bot.delivery.channels import Channels
from bot.delivery.staff_messages import send_staff_message
from bot.domain.models import Channel, ConversationRecord
from bot.services import Services
from bot.store import Transaction
from flows.dialogue import release_to_bot
from flows.types import Reply

MAX_REPLY = 4000


class ChatError(ValueError):
    """A refused chat action. ``key`` names its text under ``console.problem``:
    the console shows that, never the message (which may quote input)."""

    def __init__(self, message: str, key: str = "not_possible") -> None:
        super().__init__(message)
        self.key = key


async def _held(
    services: Services,
    channels: Channels,
    conversation_id: int,
    staff: str,
    tx: Transaction | None = None,
) -> ConversationRecord:
    """The chat, which ``staff`` must hold; read inside ``tx`` when the caller
    is about to change it (so a customer's message in between is not undone)."""
    if tx is None:
        async with services.store.transaction(readonly=True) as own:
            conversation = await own.get_conversation_by_id(conversation_id)
    else:
        conversation = await tx.get_conversation_by_id(conversation_id)
    if conversation is None:
        raise ChatError("no such chat", "no_chat")
    if conversation.claimed_by != staff:
        raise ChatError("claim the chat first", "claim_first")
    return conversation


async def claim(
    services: Services,
    channels: Channels,
    conversation_id: int,
    staff: str,
    take_over: bool = False,
) -> None:
    """Take a chat; ``take_over`` (admins) takes it from whoever holds it."""
    async with services.store.transaction() as tx:
        conversation = await tx.get_conversation_by_id(conversation_id)
        if conversation is None:
            raise ChatError("no such chat", "no_chat")
        holder = conversation.claimed_by
        if holder and holder != staff and not take_over:
            raise ChatError(f"{holder} already has this chat", "held_by_other")
        conversation.claimed_by = staff
        await tx.save_conversation(conversation)
        taken = bool(holder) and holder != staff
        await tx.add_chat_event(
            conversation.id,
            staff,
            "take_over" if taken else "claim",
            f"<- {holder}" if taken else "",
            services.clock(),
        )
    text = services.catalogue.render(conversation.language, Reply("staff.joined"))
    await _send(services, channels, conversation, staff, "staff.joined", text)


async def reply(
    services: Services, channels: Channels, conversation_id: int, staff: str, text: str
) -> str:
    """Send a staff reply; the route it took (a channel, ``whatsapp_template``
    or ``email``), or ``queued`` on a channel with no push (the terminal),
    where it waits for the customer to open the chat."""
    text = text.strip()
    if not text or len(text) > MAX_REPLY:
        raise ChatError(f"a reply has 1 to {MAX_REPLY} characters", "reply_length")
    conversation = await _held(services, channels, conversation_id, staff)
    route = await _send(services, channels, conversation, staff, "staff.reply", text)
    if route is not None:
        return route
    if conversation.channel is Channel.WHATSAPP:
        raise ChatError(
            "not delivered: WhatsApp's 24-hour window is closed and there is no template "
            "(TWILIO_TEMPLATE_STAFF_REPLY), SMS or verified email for this customer",
            "window_closed",
        )
    raise ChatError(
        f"not delivered on {conversation.channel.value}; try again later", "not_delivered"
    )


async def _send(
    services: Services,
    channels: Channels,
    conversation: ConversationRecord,
    staff: str,
    key: str,
    text: str,
) -> str | None:
    """Record and deliver one message from staff (``bot.delivery.staff_messages``
    picks the route); the route it took, or None when it could not go."""
    return await send_staff_message(services, channels, conversation, staff, key, text)


async def note(
    services: Services, channels: Channels, conversation_id: int, staff: str, text: str
) -> None:
    """An internal note: staff see it in the transcript; the customer never does."""
    text = text.strip()
    if not text:
        raise ChatError("the note is empty", "note_empty")
    await _held(services, channels, conversation_id, staff)
    async with services.store.transaction() as tx:
        await tx.add_staff_note(conversation_id, staff, text[:MAX_REPLY], services.clock())


async def transfer(
    services: Services, channels: Channels, conversation_id: int, staff: str, to: str
) -> None:
    async with services.store.transaction() as tx:
        conversation = await _held(services, channels, conversation_id, staff, tx)
        target = await tx.staff_by_email(to.strip())
        if target is None or target.disabled_at:
            raise ChatError(f"no active staff account {to.strip()}", "no_staff")
        conversation.claimed_by = target.email
        await tx.save_conversation(conversation)
        await tx.add_chat_event(
            conversation_id, staff, "transfer", f"-> {target.email}", services.clock()
        )


def canned(services: Services, language: str) -> dict[str, str]:
    """Ready answers staff can pick, in the customer's language."""
    texts = services.catalogue.texts.get(language, {})
    return {k.removeprefix("canned."): v for k, v in texts.items() if k.startswith("canned.")}


async def release(services: Services, channels: Channels, conversation_id: int, staff: str) -> None:
    async with services.store.transaction() as tx:
        conversation = await _held(services, channels, conversation_id, staff, tx)
        conversation.claimed_by = None
        conversation.waiting_staff_since = None
        conversation.state, conversation.slots = release_to_bot(
            conversation.state, conversation.slots
        )
        await tx.save_conversation(conversation)
        await tx.add_chat_event(conversation.id, staff, "release", "", services.clock())
    text = services.catalogue.render(conversation.language, Reply("staff.back_to_bot"))
    await _send(services, channels, conversation, staff, "staff.back_to_bot", text)
