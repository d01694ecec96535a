"""Staff taking over chats the bot handed over: claim (or, for an admin, take
over), reply, note, transfer, release. These are the chat acts' one
implementation: a door (today the console) calls them and words their
``ChatError`` refusals by key.

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

import logging
from datetime import timedelta

from bot.delivery.channels import Channels
from bot.delivery.staff_messages import send_staff_message
from bot.domain.errors import Refused
from bot.domain.models import Channel, ConversationRecord
from bot.requests.lookup import as_known
from bot.requests.retention import open_id_proof
from bot.services import Services
from bot.staff.answers import find_answer, ready_answers
from bot.store import Transaction
from bot.store.interface.chats import ChatFile
from flows.dialogue import release_to_bot
from flows.types import Reply

MAX_REPLY = 4000
# The purpose a look at a chat's file is recorded under (no reason is asked:
# the chat shows it); the console words it, never shows it as is.
CHAT_VIEW = "console_chat"

log = logging.getLogger(__name__)


class ChatError(Refused, ValueError):
    """A refused chat act (``no_chat``, ``claim_first``, ``held_by_other``...)."""


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
        raise ChatError("no_chat")
    if conversation.claimed_by != staff:
        raise ChatError("claim_first")
    return conversation


async def claim(services: Services, channels: Channels, conversation_id: int, staff: str) -> None:
    """Take a chat: a free one, or (admins only) one another staff member
    holds, which is taking it over. Whether ``staff`` is an admin is read
    here, in the same transaction, not trusted from the door."""
    async with services.store.transaction() as tx:
        conversation = await tx.get_conversation_by_id(conversation_id)
        if conversation is None:
            raise ChatError("no_chat")
        holder = conversation.claimed_by
        if holder and holder != staff:
            account = await tx.staff_by_email(staff)
            if account is None or account.role != "admin" or account.disabled_at:
                raise ChatError("held_by_other", holder=holder)
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
    await send_staff_message(services, channels, conversation, staff, "staff.joined", text)


async def reply(
    services: Services,
    channels: Channels,
    conversation_id: int,
    staff: str,
    text: str,
    canned_answer: str | None = None,
) -> str:
    """Send a staff reply: ``text``, or when that is blank the ready answer
    named ``canned_answer`` (its number or configured key) in the customer's
    language. The route it took (a
    channel, ``whatsapp_template`` or ``email``), or ``queued`` on a channel
    with no push (the terminal), where it waits for the customer to open the
    chat."""
    conversation = await _held(services, channels, conversation_id, staff)
    text = text.strip()
    if not text and canned_answer:
        answer = find_answer(await ready_answers(services), canned_answer)
        text = answer.text(conversation.language) if answer else ""
    if not text or len(text) > MAX_REPLY:
        raise ChatError("reply_length", maximum=MAX_REPLY)
    route = await send_staff_message(services, channels, conversation, staff, "staff.reply", text)
    if route is not None:
        return route
    # Noted, so the chat's page marks the recorded message as not sent at once.
    async with services.store.transaction() as tx:
        await tx.note_not_sent(conversation.id, staff, services.clock())
    if conversation.channel is Channel.WHATSAPP:
        raise ChatError("window_closed")
    raise ChatError("not_delivered", channel=conversation.channel.value)


async def note(
    services: Services, channels: Channels, conversation_id: int, staff: str, text: str
) -> None:
    """An internal note: staff see it in the transcript; the customer never does."""
    text = text.strip()
    if not text:
        raise ChatError("note_empty")
    await _held(services, channels, conversation_id, staff)
    async with services.store.transaction() as tx:
        await tx.add_staff_note(conversation_id, staff, text[:MAX_REPLY], services.clock())


async def transfer(
    services: Services, channels: Channels, conversation_id: int, staff: str, to: str
) -> None:
    """Hand a chat one holds to another active staff member."""
    async with services.store.transaction() as tx:
        conversation = await _held(services, channels, conversation_id, staff, tx)
        target = await tx.staff_by_email(to.strip())
        if target is None or target.disabled_at:
            raise ChatError("no_staff", email=to.strip())
        conversation.claimed_by = target.email
        await tx.save_conversation(conversation)
        await tx.add_chat_event(
            conversation_id, staff, "transfer", f"-> {target.email}", services.clock()
        )


async def canned(services: Services, language: str) -> list[tuple[str, str]]:
    """Ready answers staff can pick, (number, text) in the customer's language."""
    return [(str(a.id), a.text(language)) for a in await ready_answers(services)]


async def colleagues(services: Services, staff: str) -> list[str]:
    """Whom ``staff`` can hand a chat to: every active account but their own."""
    async with services.store.transaction(readonly=True) as tx:
        accounts = await tx.list_staff()
    return [a.email for a in accounts if a.disabled_at is None and a.email != staff.lower()]


async def open_chat_file(
    services: Services, conversation_id: int, file_id: int, staff: str, address: str | None = None
) -> tuple[ChatFile, bytes]:
    """A file the customer sent in this chat, decrypted, with the view
    recorded first (as an ID proof's is): no unrecorded look."""
    async with services.store.transaction(readonly=True) as tx:
        found = await tx.chat_file(conversation_id, file_id)
    if found is None or found.deleted:
        raise ChatError("no_file")
    return found, await open_id_proof(services, found.token, staff, CHAT_VIEW, address=address)


async def release(services: Services, channels: Channels, conversation_id: int, staff: str) -> None:
    """Give the chat back to the bot, at the step it was waiting on."""
    async with services.store.transaction() as tx:
        conversation = await _held(services, channels, conversation_id, staff, tx)
        conversation.claimed_by = None
        conversation.waiting_staff_since = None
        # Back to the bot: to a request staff asked more about, if one waits.
        known = await tx.requests_for_address(conversation.channel, conversation.address)
        conversation.state, conversation.slots = release_to_bot(
            conversation.state, conversation.slots, [as_known(r) for r in known]
        )
        await tx.save_conversation(conversation)
        await tx.add_chat_event(conversation.id, staff, "release", "", services.clock())
    text = services.catalogue.render(conversation.language, Reply("staff.back_to_bot"))
    await send_staff_message(services, channels, conversation, staff, "staff.back_to_bot", text)


async def purge_chat_files(services: Services) -> int:
    """Files a customer sent in a chat that no request or draft took (a
    picture sent while staff held the chat) go after the ID-proof retention
    period, counted from when they came; an ID proof keeps its own rule."""
    now = services.clock()
    cutoff = now - timedelta(days=services.settings.id_proof_retention_days)
    async with services.store.transaction() as tx:
        due = await tx.chat_files_due(cutoff)
        await tx.mark_attachments_deleted(due, now)
    for token in due:  # after the commit: a crash leaves files, never dangling rows
        services.blobs.delete(token)
    if due:
        log.info("deleted %d chat files past their retention", len(due))
    return len(due)
