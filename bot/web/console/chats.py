"""The console's chats handed to staff, in three panes like a help-desk inbox:
the list (tabs mine, waiting, all; search; ``inbox_list``), the conversation
as bubbles with its composer (``inbox_chat``), and a side panel with the
customer, the draft, their requests and earlier chats. Taking a chat,
replying, notes, transfer and release go through ``bot.staff.chats``; taking
over from a colleague and giving a chat back to the bot ask first (a
confirmation step that works without script; with script, a dialog). Each
act ends with a one-time message in the staff member's language.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.domain.errors import Refused
from bot.staff import chats as staff_chats
from bot.staff.accounts import Session
from bot.web.console.account import client_address
from bot.web.console.answers import answer_routes
from bot.web.console.inbox_chat import bubbles
from bot.web.console.inbox_flash import chat_flash
from bot.web.console.inbox_list import counted, customer_number, list_pane, row_of
from bot.web.console.pages import HEADERS, ConsolePages, Notice

CONFIRMED = ("release", "take_over")
MAX_TYPED = 20_000  # a reply over the limit comes back to be shortened, not cut


def chat_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    async def inbox(request: Request, session: Session) -> Response:
        pane = await list_pane(kit, request, session)
        return kit.render(
            request,
            "inbox.html",
            session,
            counted(kit.t(session, "inbox"), pane["counts"]),  # type: ignore[arg-type]
            nav="inbox",
            notices=chat_flash(kit, request, session),
            heading=kit.t(session, "inbox"),
            **pane,
        )

    async def chat_page(request: Request, session: Session) -> Response:
        return await show_chat(request, session, int(request.path_params["chat"]))

    async def show_chat(
        request: Request,
        session: Session,
        chat_id: int,
        status: int = 200,
        refusal: Notice | None = None,
        typed: str | None = None,
    ) -> Response:
        """The chat's page; after a refused reply, with why and what was typed."""
        services = core.services
        async with services.store.transaction(readonly=True) as tx:
            conversation = await tx.get_conversation_by_id(chat_id)
            if conversation is None:
                return kit.message(request, session, "no_chats", 404)
            messages = await tx.chat_messages(chat_id)
            filed = await tx.requests_for_address(conversation.channel, conversation.address)
            earlier = await tx.earlier_chats(conversation)
        async with services.store.transaction() as tx:
            await tx.mark_chat_read(session.email, chat_id, services.clock())
        pane = await list_pane(kit, request, session, current=chat_id)
        words = kit.words(session.language)
        now = services.clock()
        held = conversation.claimed_by == session.email
        answers = await staff_chats.canned(services, conversation.language) if held else []
        picked = request.query_params.get("answer", "")
        prefill = next((text for number, text in answers if number == picked), "")
        if typed is not None:
            prefill = typed
        confirm = request.query_params.get("confirm", "")
        if confirm == "take_over" and (not conversation.claimed_by or held):
            confirm = ""
        now_minutes = int(now.timestamp() // 60)
        name = conversation.slots.get("full_name") or next(
            (r.full_name for r in filed if r.full_name), None
        )
        number = customer_number(conversation.address)
        return kit.render(
            request,
            "chat.html",
            session,
            counted(kit.t(session, "chat_title", chat=chat_id), pane["counts"]),  # type: ignore[arg-type]
            nav="inbox",
            status=status,
            notices=[refusal] if refusal else chat_flash(kit, request, session),
            heading=kit.t(session, "inbox"),
            chat=conversation,
            customer=name or number or kit.t(session, "chat_title", chat=chat_id),
            name=name,
            number=number,
            email=conversation.slots.get("email") or next((r.email for r in filed), None),
            holder=conversation.claimed_by,
            lines=bubbles(words, chat_id, conversation.channel, messages, now),
            draft=words.facts(conversation.slots),
            filed=filed,
            earlier=[row_of(words, s, session, now_minutes, "", 0) for s in earlier],
            canned=answers,
            prefill=prefill,
            colleagues=await staff_chats.colleagues(services, session.email) if held else [],
            confirm=confirm if confirm in CONFIRMED else "",
            **pane,
        )

    async def chat_file(request: Request, session: Session) -> Response:
        """A file the customer sent, decrypted on the fly, never cached; the
        view is recorded (who, when) as an ID proof's is."""
        chat_id, file_id = int(request.path_params["chat"]), int(request.path_params["file"])
        try:
            found, data = await staff_chats.open_chat_file(
                core.services, chat_id, file_id, session.email, client_address(request)
            )
        except staff_chats.ChatError:
            return Response(status_code=404, headers=HEADERS)
        except Refused as exc:  # stored but unreadable (``file_unreadable``)
            return kit.message(request, session, f"problem.{exc.key}", 404)
        headers = {**HEADERS, "Content-Disposition": "inline"}
        return Response(data, media_type=found.media_type, headers=headers)

    async def chat_action(request: Request, session: Session) -> Response:
        chat_id = int(request.path_params["chat"])
        action = request.path_params["action"]
        form = await request.form()
        text = str(form.get("text", ""))
        sure = form.get("sure") in ("1", "on")
        path = f"/console/chats/{chat_id}"
        services, channels = core.services, core.channels
        try:
            if action == "claim":  # or, for an admin, take it over: after a yes
                async with services.store.transaction(readonly=True) as tx:
                    found = await tx.get_conversation_by_id(chat_id)
                holder = found.claimed_by if found else None
                taking = bool(holder) and holder != session.email
                if taking and not sure:
                    return RedirectResponse(f"{path}?confirm=take_over#confirm", status_code=303)
                await staff_chats.claim(services, channels, chat_id, session.email)
                return kit.flashed(path, session, "chats.take_over" if taking else "chats.claim")
            if action == "reply":
                route = await staff_chats.reply(
                    services,
                    channels,
                    chat_id,
                    session.email,
                    text,
                    canned_answer=str(form.get("canned", "")) or None,
                )
                return kit.sent(path, session, route)
            if action == "transfer":
                to = str(form.get("to", ""))
                await staff_chats.transfer(services, channels, chat_id, session.email, to)
                return kit.flashed("/console/inbox", session, "chats.transfer")
            if action == "note":
                await staff_chats.note(services, channels, chat_id, session.email, text)
                return kit.flashed(path, session, "chats.note")
            if action == "release":
                if not sure:
                    return RedirectResponse(f"{path}?confirm=release#confirm", status_code=303)
                await staff_chats.release(services, channels, chat_id, session.email)
                return kit.flashed("/console/inbox", session, "chats.release")
            return Response(status_code=404, headers=HEADERS)
        except staff_chats.ChatError as exc:
            if action == "reply" and exc.key == "reply_length":
                # Said on the page that answers the form, keeping what was typed.
                return await show_chat(
                    request, session, chat_id, 400, kit.problem(session, exc), text[:MAX_TYPED]
                )
            return kit.refused(path, exc)

    return [
        Route("/console/inbox", signed_in(inbox), methods=["GET"]),
        Route("/console/chats/{chat:rowid}", signed_in(chat_page), methods=["GET"]),
        Route(
            "/console/chats/{chat:rowid}/files/{file:rowid}",
            signed_in(chat_file),
            methods=["GET"],
        ),
        Route("/console/chats/{chat:rowid}/{action}", signed_in(chat_action), methods=["POST"]),
        *answer_routes(kit),
    ]
