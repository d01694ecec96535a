"""The console's chats handed to staff: the inbox (waiting oldest first, and
the chats one holds), a chat's page with its transcript, and taking it over,
replying, notes, transfer and release (``bot.staff.chats`` does the work).
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.delivery.channels import PULLED_CHANNELS
from bot.staff import chats as staff_chats
from bot.staff.accounts import Session
from bot.web.console.pages import HEADERS, ConsolePages


def chat_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, t, page, signed_in = kit.core, kit.t, kit.page, kit.signed_in

    async def inbox(request: Request, session: Session) -> Response:
        async with core.services.store.transaction(readonly=True) as tx:
            chats = await tx.staff_queue(session.email, everyone=session.role == "admin")
            reasons = await tx.escalation_reasons([c.id for c in chats])
        zone = ZoneInfo(core.settings.timezone)
        now = core.services.clock()
        rows = []
        for c in chats:
            if c.claimed_by:
                who = f"{t(session, 'yours')} {html.escape(c.claimed_by)}"
            else:
                minutes = int((now - (c.waiting_staff_since or now)).total_seconds() // 60)
                since = f"{(c.waiting_staff_since or now).astimezone(zone):%Y-%m-%d %H:%M}"
                who = (
                    f"{t(session, 'waiting')} {since} "
                    f"({t(session, 'waited', hours=minutes // 60, minutes=minutes % 60)})"
                )
            reason = reasons.get(c.id)
            channel = core.services.catalogue.text(session.language, f"channel.{c.channel.value}")
            rows.append(
                f'<tr><td><a href="/console/chats/{c.id}">#{c.id}</a></td>'
                f"<td>{channel}"
                f"</td><td>{c.language}</td><td>{who}</td><td>"
                + (t(session, f"reason_{reason}") if reason else "")
                + "</td></tr>"
            )
        listing = (
            f"<table><tr><th>{t(session, 'chat')}</th><th>{t(session, 'channel')}</th>"
            f"<th>{t(session, 'chat_language')}</th><th>{t(session, 'since')}</th>"
            f"<th>{t(session, 'why')}</th></tr>{''.join(rows)}</table>"
            if rows
            else f"<p>{t(session, 'no_chats')}</p>"
        )
        body = f'<h1>{t(session, "inbox")}</h1><div id="inbox" data-live>{listing}</div>'
        return page(session.language, body, session)

    def shown_text(session: Session, text: str, sealed: bool) -> str:
        """A message as staff see it; one that carried a one-time link stays sealed."""
        if sealed:
            return f"<em>{t(session, 'sealed_message')}</em>"
        return html.escape(text).replace(chr(10), "<br>")

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
            return page(session.language, f"<p>{t(session, 'no_chats')}</p>", session, 404)
        zone = ZoneInfo(core.settings.timezone)
        # The terminal has no push: what staff wrote waits there until the
        # customer opens the chat again; that is not a failure.
        late = "queued" if conversation.channel in PULLED_CHANNELS else "undelivered"
        transcript = "".join(
            f'<tr class="who-{m.who.split(":")[0]}">'
            f"<td>{m.at.astimezone(zone):%Y-%m-%d %H:%M}</td>"
            f"<td>{html.escape(m.who)}</td>"
            f"<td>{shown_text(session, m.text, m.sealed)}"
            + (
                f' <span class="late">({t(session, late)})</span>'
                if m.who.startswith("staff") and m.problem
                else ""
            )
            + "</td></tr>"
            for m in lines
        )
        catalogue = core.services.catalogue

        def shown(value: Any) -> str:
            if isinstance(value, dict):  # a file: say what, never show it here
                return str(value.get("media_type", "file"))
            if isinstance(value, list | tuple):
                return ", ".join(map(str, value))
            return str(value)

        fields = "".join(
            f"<tr><th>{html.escape(catalogue.texts[session.language].get(f'field.{k}', k))}</th>"
            f"<td>{html.escape(shown(v))}</td></tr>"
            for k, v in conversation.slots.items()
            if not k.startswith("_")
        )
        requests = "".join(
            f'<li><a href="/console/requests/{r.reference}">{r.reference}</a> '
            f"{r.type.value}, {r.status.value}</li>"
            for r in filed
        )
        draft = (
            f"<h2>{t(session, 'draft')}</h2>"
            + (f"<table>{fields}</table>" if fields else f"<p>{t(session, 'no_draft')}</p>")
            + (f"<h2>{t(session, 'their_requests')}</h2><ul>{requests}</ul>" if requests else "")
        )

        choices = "".join(
            f'<option value="{html.escape(k)}">{html.escape(v[:60])}</option>'
            for k, v in staff_chats.canned(core.services, conversation.language).items()
        )

        def form(action: str, field: str = "") -> str:
            box = (
                f'<textarea name="text" required placeholder="{t(session, "note_hint")}">'
                "</textarea> "
                if field
                else ""
            )
            if action == "reply":
                box = (
                    f'<textarea name="text" placeholder="{t(session, "reply_hint")}"></textarea> '
                    f'<select name="canned"><option value="">{t(session, "canned")}</option>'
                    f"{choices}</select> "
                )
            elif action == "transfer":
                box = f'<input name="to" type="email" required placeholder="{t(session, "to")}"> '

            return (
                f'<form method="post" action="/console/chats/{chat_id}/{action}">'
                f'<input type="hidden" name="csrf" value="{session.csrf}">{box}'
                f'<button type="submit">{t(session, action)}</button></form>'
            )

        holder = conversation.claimed_by
        if holder == session.email:
            actions = (
                form("reply", "text") + form("note", "text") + form("transfer") + form("release")
            )
        elif holder and session.role != "admin":
            actions = f"<p>{t(session, 'yours')} {html.escape(holder)}</p>"
        elif holder:  # an admin may take a chat from whoever holds it
            actions = f"<p>{t(session, 'yours')} {html.escape(holder)}</p>" + form("claim").replace(
                f">{t(session, 'claim')}</button>", f">{t(session, 'take_over')}</button>"
            )
        else:
            actions = form("claim")
        notice = kit.notice(session, request)
        body = (
            f"<h1>{t(session, 'chat')} #{chat_id} ({conversation.channel.value})</h1>{notice}"
            f'<div class="card" id="draft" data-live>{draft}</div>'
            f'<div class="card">{actions}</div>'
            f'<div class="card" id="transcript" data-live><table>{transcript}</table></div>'
        )
        return page(session.language, body, session)

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
                return RedirectResponse(
                    f"/console/chats/{chat_id}?sent={quote(route)}", status_code=303
                )
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
