"""The console's chats handed to staff: the inbox (waiting oldest first, and
the chats one holds), a chat's page with its transcript, and taking it over,
replying, notes, transfer and release (``bot.staff.chats`` does the work).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.delivery.channels import PULLED_CHANNELS
from bot.domain.models import ConversationRecord
from bot.staff import chats as staff_chats
from bot.staff.accounts import Session
from bot.web.console.pages import HEADERS, ConsolePages


@dataclass(frozen=True)
class InboxRow:
    """A chat in the inbox: since when it waits (local time), for how many
    minutes, and why it was handed over."""

    chat: ConversationRecord
    since: str
    minutes: int
    reason: str | None


def chat_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    async def inbox(request: Request, session: Session) -> Response:
        async with core.services.store.transaction(readonly=True) as tx:
            chats = await tx.staff_queue(session.email, everyone=session.role == "admin")
            reasons = await tx.escalation_reasons([c.id for c in chats])
        words = kit.words(session.language)
        now = core.services.clock()
        rows = []
        for c in chats:
            since = c.waiting_staff_since or now
            minutes = int((now - since).total_seconds() // 60)
            rows.append(InboxRow(c, words.when(since), minutes, reasons.get(c.id)))
        title = kit.t(session, "inbox")
        return kit.render(request, "inbox.html", session, title, nav="inbox", rows=rows)

    async def chat_page(request: Request, session: Session) -> Response:
        chat_id = int(request.path_params["chat"])
        async with core.services.store.transaction(readonly=True) as tx:
            conversation = await tx.get_conversation_by_id(chat_id)
            lines = await tx.transcript(chat_id) if conversation else []
            filed = (
                await tx.requests_for_address(conversation.channel, conversation.address)
                if conversation
                else []
            )
        if conversation is None:
            return kit.message(request, session, "no_chats", 404)
        words = kit.words(session.language)
        canned = staff_chats.canned(core.services, conversation.language)
        return kit.render(
            request,
            "chat.html",
            session,
            kit.t(session, "chat_title", chat=chat_id),
            nav="inbox",
            chat=conversation,
            holder=conversation.claimed_by,
            lines=[words.line(m) for m in lines],
            # The terminal has no push: what staff wrote waits there until the
            # customer opens the chat again; that is not a failure.
            late="queued_short" if conversation.channel in PULLED_CHANNELS else "undelivered",
            draft=words.facts(conversation.slots),
            filed=filed,
            canned=list(canned.items()),
        )

    async def chat_action(request: Request, session: Session) -> Response:
        chat_id = int(request.path_params["chat"])
        action = request.path_params["action"]
        form = await request.form()
        text = str(form.get("text", ""))
        try:
            if action == "claim":  # or, for an admin, take it over
                await staff_chats.claim(core.services, core.channels, chat_id, session.email)
            elif action == "reply":
                route = await staff_chats.reply(
                    core.services,
                    core.channels,
                    chat_id,
                    session.email,
                    text,
                    canned_answer=str(form.get("canned", "")) or None,
                )
                return kit.sent(f"/console/chats/{chat_id}", session, route)
            elif action == "transfer":
                await staff_chats.transfer(
                    core.services, core.channels, chat_id, session.email, str(form.get("to", ""))
                )
                return RedirectResponse("/console/inbox", status_code=303)
            elif action == "note":
                await staff_chats.note(core.services, core.channels, chat_id, session.email, text)
            elif action == "release":
                await staff_chats.release(core.services, core.channels, chat_id, session.email)
                return RedirectResponse("/console/inbox", status_code=303)
            else:
                return Response(status_code=404, headers=HEADERS)
        except staff_chats.ChatError as exc:
            return kit.refused(f"/console/chats/{chat_id}", exc)
        return RedirectResponse(f"/console/chats/{chat_id}", status_code=303)

    return [
        Route("/console/inbox", signed_in(inbox), methods=["GET"]),
        Route("/console/chats/{chat:rowid}", signed_in(chat_page), methods=["GET"]),
        Route("/console/chats/{chat:rowid}/{action}", signed_in(chat_action), methods=["POST"]),
    ]
