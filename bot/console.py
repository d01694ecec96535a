"""The staff console (``/console``): log in, the request queue, a request's
page with its ID proof and the lifecycle actions.

Every page needs a session (cookie: HttpOnly, SameSite=Lax, Secure behind
https); every form carries the session's CSRF token, the login form a
cookie-bound one. Pages are plain HTML that works without script, served with
a strict Content-Security-Policy and never cached; one small script of our own
(``live.js``) listens to ``/console/events`` (Server-Sent Events) and swaps in
the page's ``data-live`` parts when something changed. Actions call the same lifecycle
functions as the command line and the API; each is recorded with the staff
member's email.
"""

from __future__ import annotations

import hmac
import html
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from bot import staff_chats
from bot.channels import Core
from bot.directory import everyone_counts
from bot.engine import utc_now
from bot.exports import MAX_UPLOADED_EXPORT_BYTES, ExportFile, complete_access
from bot.lifecycle import MOVES, OPEN, IllegalMove, act, deadline
from bot.live import ActivityFeed
from bot.models import RequestRecord, RequestStatus
from bot.requests import BadReference, RequestNotFound, find_request, list_requests
from bot.retention import open_id_proof
from bot.settings import visible_settings
from bot.staff import (
    ROLES,
    LoginRefused,
    Session,
    StaffError,
    add_staff,
    change_staff,
    log_in,
    session_for,
)
from flows.types import RequestType

COOKIE = "pb_session"
LOGIN_CSRF = "pb_login"
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;color:#1d2733;background:#f4f6f8}"
    "header{background:#0b6bcb;color:#fff;padding:.75rem 1rem;display:flex;gap:1rem;"
    "align-items:center;flex-wrap:wrap}header a,header button{color:#fff}"
    "header button{background:transparent;border:1px solid #fff;border-radius:.3rem}"
    "main{padding:1rem;max-width:70rem;margin:auto}table{border-collapse:collapse;width:100%;"
    "background:#fff}td,th{border-bottom:1px solid #dde3ea;padding:.45rem;text-align:left;"
    "vertical-align:top}.soon{color:#a35c00;font-weight:600}.late{color:#b3261e;"
    "font-weight:700}.card{background:#fff;padding:1rem;border-radius:.5rem;margin:1rem 0}"
    "form.inline{display:inline}.msg{padding:.6rem;border-radius:.4rem;background:#e7f6ec}"
    ".err{background:#fdecea}img.proof{max-width:100%;border:1px solid #ccc}"
    "input,textarea,select,button{font-size:1rem;padding:.35rem;max-width:100%;"
    "box-sizing:border-box}textarea{width:100%;min-height:4rem}form{margin:.4rem 0}"
    "td{overflow-wrap:anywhere}.who-bot{background:#f7f9fb}.who-staff{background:#e7f0fd}"
    ".who-note{background:#fff6dd}.who-event{color:#5b6675;font-size:.9em}"
    "@media(max-width:40rem){td,th{display:block}}"
)

Handler = Callable[[Request, Session], Awaitable[Response]]
LIVE_POLL_SECONDS = 1.0
LIVE_JS = resources.files("bot").joinpath("static/live.js").read_bytes()


def console_routes(core: Core) -> list[BaseRoute]:
    secure = core.settings.public_url.startswith("https://")
    feed = ActivityFeed(core, LIVE_POLL_SECONDS)

    def t(session_or_lang: Session | str, key: str, **params: Any) -> str:
        lang = session_or_lang if isinstance(session_or_lang, str) else session_or_lang.language
        text = core.engine.catalogue.text(lang, f"console.{key}")
        return html.escape(text.format(**params) if params else text)

    def page(lang: str, body: str, session: Session | None = None, status: int = 200) -> Response:
        bar = ""
        if session is not None:
            other = "en" if session.language == "id" else "id"
            bar = (
                f'<a href="/console">{t(session, "queue")}</a>'
                f'<a href="/console/inbox">{t(session, "inbox")}</a>'
                + (
                    f'<a href="/console/staff">{t(session, "staff")}</a>'
                    if session.role == "admin"
                    else ""
                )
                + f'<a href="/console?lang={other}">{t(session, "language")}</a>'
                f"<span>{html.escape(session.email)} ({session.role})</span>"
                f'<form class="inline" method="post" action="/console/logout">'
                f'<input type="hidden" name="csrf" value="{session.csrf}">'
                f'<button type="submit">{t(session, "logout")}</button></form>'
            )
        document = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{t(lang, 'title')}</title><style>{STYLE}</style></head><body>"
            f"<header><strong>{t(lang, 'title')}</strong>{bar}</header><main>{body}</main>"
            + ('<script src="/console/live.js" defer></script>' if session else "")
            + "</body></html>"
        )
        return HTMLResponse(document, status_code=status, headers=HEADERS)

    def signed_in(
        handler: Handler, admin: bool = False, touch: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            # A page fetched again by live.js is no sign of a person at work.
            active = touch and request.headers.get("x-live") != "1"
            session = await session_for(core.engine, request.cookies.get(COOKIE), active)
            if session is None:
                if request.method == "GET":
                    return RedirectResponse("/console/login", status_code=303)
                return Response("login required", status_code=401, headers=HEADERS)
            if request.method == "POST":
                form = await request.form()
                given = str(form.get("csrf", ""))
                if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                    return Response("invalid CSRF token", status_code=403, headers=HEADERS)
            if admin and session.role != "admin":
                return page(session.language, f"<p>{t(session, 'admin_only')}</p>", session, 403)
            return await handler(request, session)

        return run

    async def login_form(request: Request, error: bool = False, status: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        lang = core.settings.default_language
        notice = f'<p class="msg err">{t(lang, "login_failed")}</p>' if error else ""
        body = (
            f'<div class="card">{notice}<form method="post" action="/console/login">'
            f'<input type="hidden" name="csrf" value="{token}">'
            f'<p><label>{t(lang, "email")}<br><input name="email" type="email" required '
            f'autocomplete="username"></label></p>'
            f'<p><label>{t(lang, "password")}<br><input name="password" type="password" '
            f'required autocomplete="current-password"></label></p>'
            f'<button type="submit">{t(lang, "login")}</button></form></div>'
        )
        response = page(lang, body, status=status)
        response.set_cookie(
            LOGIN_CSRF, token, httponly=True, samesite="lax", secure=secure, path="/console"
        )
        return response

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return await login_form(request)
        form = await request.form()
        expected = request.cookies.get(LOGIN_CSRF, "")
        if not expected or not hmac.compare_digest(
            str(form.get("csrf", "")).encode(), expected.encode()
        ):
            return Response("invalid CSRF token", status_code=403, headers=HEADERS)
        address = request.client.host if request.client else "unknown"
        try:
            cookie = await log_in(
                core.engine, str(form.get("email", "")), str(form.get("password", "")), address
            )
        except LoginRefused:
            return await login_form(request, error=True, status=401)
        response = RedirectResponse("/console", status_code=303)
        response.set_cookie(
            COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            secure=secure,
            path="/",
            max_age=12 * 3600,
        )
        response.delete_cookie(LOGIN_CSRF, path="/console")
        return response

    async def logout(request: Request, session: Session) -> Response:
        async with core.engine.store.transaction() as tx:
            await tx.delete_session(session.id_hash)
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def today() -> date:
        return utc_now().astimezone(ZoneInfo(core.settings.timezone)).date()

    async def queue(request: Request, session: Session) -> Response:
        lang = request.query_params.get("lang")
        if lang in ("id", "en") and lang != session.language:
            async with core.engine.store.transaction() as tx:
                await tx.touch_session(session.id_hash, core.engine.clock(), lang)
            session = Session(
                session.id_hash,
                session.staff_id,
                session.email,
                session.role,
                session.csrf,
                lang,
            )
        status = request.query_params.get("status", "open")
        kind = request.query_params.get("type", "")
        search = request.query_params.get("q", "").strip().casefold()
        found = await list_requests(core.engine.store)
        rows = []
        for r in found:
            if status == "open" and r.status not in OPEN:
                continue
            if status not in ("open", "all") and r.status.value != status:
                continue
            if kind and r.type.value != kind:
                continue
            if search and search not in r.reference.casefold() and search != r.email.casefold():
                continue
            d = deadline(r, today())
            mark = (
                f' <span class="late">{t(session, "overdue")}</span>'
                if d.overdue
                else f' <span class="soon">{t(session, "due_soon")}</span>'
                if d.due_soon
                else ""
            )
            rows.append(
                f'<tr><td><a href="/console/requests/{r.reference}">{r.reference}</a></td>'
                f"<td>{t(session, f'kind.{r.type.value}')}</td>"
                f"<td>{t(session, f'state.{r.status.value}')}</td>"
                f"<td>{r.due_date.isoformat()}{mark}</td>"
                f"<td>{d.business_days_left if r.status in OPEN else '-'}</td></tr>"
            )
        options = "".join(
            f'<option value="{v}"{" selected" if v == status else ""}>'
            f"{t(session, f'state.{v}')}</option>"
            for v in ("open", "all", *(s.value for s in RequestStatus))
        )
        types = "".join(
            f'<option value="{v}"{" selected" if v == kind else ""}>'
            f"{t(session, f'kind.{v}') if v else t(session, 'all')}</option>"
            for v in ("", *(k.value for k in RequestType))
        )
        body = (
            f"<h1>{t(session, 'queue')}</h1>"
            f'<form method="get" action="/console"><select name="status">{options}</select> '
            f'<select name="type">{types}</select> '
            f'<input name="q" value="{html.escape(search)}" placeholder="{t(session, "search")}">'
            f' <button type="submit">{t(session, "filter")}</button></form>'
            f'<div id="queue" data-live><table><tr><th>{t(session, "reference")}</th>'
            f"<th>{t(session, 'type')}</th>"
            f"<th>{t(session, 'status')}</th><th>{t(session, 'due')}</th>"
            f"<th>{t(session, 'days_left')}</th></tr>"
            + ("".join(rows) or f'<tr><td colspan="5">{t(session, "empty")}</td></tr>')
            + "</table></div>"
        )
        return page(session.language, body, session)

    def pairs(data: dict[str, Any]) -> str:
        """``key: value`` lines for a record's free-form details."""
        return "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in data.items()
        )

    def action_forms(session: Session, record: RequestRecord) -> str:
        forms = []
        for action, (sources, _) in MOVES.items():
            if record.status not in sources:
                continue
            extra = ""
            if action == "ask":
                hint = t(session, "message")
                extra = f'<textarea name="message" required placeholder="{hint}"></textarea>'
            elif action in ("reject", "delay"):
                extra = f'<input name="reason" required placeholder="{t(session, "reason")}">'
            if action == "delay":
                extra += f' <input name="until" type="date" required title="{t(session, "until")}">'
            encoding = ""
            if action == "complete" and record.type is RequestType.ACCESS:
                # An access request is completed with its data copy from the back office.
                encoding = ' enctype="multipart/form-data"'
                extra = (
                    f"<label>{t(session, 'export_files')} "
                    '<input type="file" name="export" multiple required></label>'
                )
            forms.append(
                f'<form method="post" action="/console/requests/{record.reference}/{action}"'
                f"{encoding}>"
                f'<input type="hidden" name="csrf" value="{session.csrf}">{extra} '
                f'<label><input type="checkbox" name="sure" required> {t(session, "confirm")}'
                f'</label> <button type="submit" name="do" value="{action}">'
                f"{t(session, f'do.{action}')}</button></form>"
            )
        return "".join(f'<div class="card">{f}</div>' for f in forms)

    async def request_page(request: Request, session: Session) -> Response:
        try:
            record = await find_request(core.engine.store, request.path_params["reference"])
        except (RequestNotFound, BadReference):
            return page(session.language, f"<p>{t(session, 'empty')}</p>", session, 404)
        notice = ""
        if request.query_params.get("done"):
            notice = f'<p class="msg">{t(session, "done")}</p>'
        if request.query_params.get("error"):
            notice = (
                f'<p class="msg err">'
                f"{t(session, 'not_possible', problem=request.query_params['error'])}</p>"
            )
        if record.email.startswith("hmac:"):
            match = "forgotten"
        elif record.details.get("name_mismatch"):
            match = "mismatch"
        elif await everyone_counts(core.engine.directory, core.engine.store):
            match = "unchecked"
        else:
            match = "registered"
        label = core.engine.catalogue.text
        lang = session.language
        fields = "".join(
            f"<tr><th>{t(session, k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in (
                ("reference", record.reference),
                ("type", label(lang, f"console.kind.{record.type.value}")),
                ("status", label(lang, f"console.state.{record.status.value}")),
                ("due", record.due_date.isoformat()),
                ("directory", label(lang, f"console.match.{match}")),
                ("channel", label(lang, f"channel.{record.channel.value}")),
                ("chat_language", record.language),
                ("full_name", record.full_name),
                ("email", record.email),
                ("reason", record.reason or "-"),
                ("details", pairs(record.details) or "-"),
            )
        )
        events = "".join(
            f"<tr><td>{e.at.astimezone(ZoneInfo(core.settings.timezone)):%Y-%m-%d %H:%M}</td>"
            f"<td>{html.escape(e.actor)}</td><td>{html.escape(e.kind)}</td>"
            f"<td>{html.escape(pairs(e.data))}</td></tr>"
            for e in record.events
        )
        stored = [a for a in record.attachments if a.deleted_at is None]
        if stored and stored[-1].media_type.startswith("image/"):
            proof = f'<img class="proof" alt="ID" src="/console/requests/{record.reference}/proof">'
        elif stored:
            proof = f'<a href="/console/requests/{record.reference}/proof">PDF</a>'
        else:
            proof = f"<p>{t(session, 'no_proof')}</p>"
        body = (
            f"<h1>{record.reference}</h1>{notice}"
            f'<div class="card"><h2>{t(session, "fields")}</h2><table>{fields}</table></div>'
            f'<div class="card"><h2>{t(session, "proof")}</h2>{proof}</div>'
            f"<h2>{t(session, 'actions')}</h2>{action_forms(session, record)}"
            f'<div class="card"><h2>{t(session, "events")}</h2><table>{events}</table></div>'
        )
        return page(session.language, body, session)

    async def proof(request: Request, session: Session) -> Response:
        try:
            record = await find_request(core.engine.store, request.path_params["reference"])
        except (RequestNotFound, BadReference):
            return Response(status_code=404, headers=HEADERS)
        stored = [a for a in record.attachments if a.deleted_at is None]
        if not stored:
            return Response(status_code=404, headers=HEADERS)
        data = await open_id_proof(core.engine, stored[-1].token, session.email, "console")
        return Response(data, media_type=stored[-1].media_type, headers=HEADERS)

    async def do_action(request: Request, session: Session) -> Response:
        reference = request.path_params["reference"]
        action = request.path_params["action"]
        form = await request.form()
        until_raw = str(form.get("until", "")) or None
        uploads = [v for v in form.getlist("export") if not isinstance(v, str) and v.filename]
        try:
            if action == "complete" and uploads:
                files = []
                for upload in uploads:
                    data = await upload.read(MAX_UPLOADED_EXPORT_BYTES + 1)
                    if len(data) > MAX_UPLOADED_EXPORT_BYTES:
                        raise ValueError(f"{upload.filename} is larger than 50 MB")
                    files.append(ExportFile(upload.filename or "export", data))
                await complete_access(core.engine, reference, f"staff:{session.email}", files)
                return RedirectResponse(f"/console/requests/{reference}?done=1", status_code=303)
            until = date.fromisoformat(until_raw) if until_raw else None
            await act(
                core.engine.store,
                core.engine.clock,
                reference,
                action,
                f"staff:{session.email}",
                reason=str(form.get("reason", "")) or None,
                message=str(form.get("message", "")) or None,
                until=until,
            )
        except (IllegalMove, ValueError) as exc:
            return RedirectResponse(
                f"/console/requests/{reference}?error={quote(str(exc))}", status_code=303
            )
        except (RequestNotFound, BadReference):
            return Response(status_code=404, headers=HEADERS)
        return RedirectResponse(f"/console/requests/{reference}?done=1", status_code=303)

    async def inbox(request: Request, session: Session) -> Response:
        async with core.engine.store.transaction(readonly=True) as tx:
            chats = await tx.staff_queue(session.email, everyone=session.role == "admin")
            reasons = await tx.escalation_reasons([c.id for c in chats])
        zone = ZoneInfo(core.settings.timezone)
        now = core.engine.clock()
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
            rows.append(
                f'<tr><td><a href="/console/chats/{c.id}">#{c.id}</a></td>'
                f"<td>{core.engine.catalogue.text(session.language, f'channel.{c.channel.value}')}"
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

    async def chat_page(request: Request, session: Session) -> Response:
        chat_id = int(request.path_params["chat"])
        async with core.engine.store.transaction(readonly=True) as tx:
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
        transcript = "".join(
            f'<tr class="who-{m["who"].split(":")[0]}">'
            f"<td>{datetime.fromisoformat(m['at']).astimezone(zone):%Y-%m-%d %H:%M}</td>"
            f"<td>{html.escape(m['who'])}</td>"
            f"<td>{html.escape(m['text']).replace(chr(10), '<br>')}"
            + (
                f' <span class="late">({t(session, "undelivered")})</span>'
                if m["who"].startswith("staff") and m["problem"]
                else ""
            )
            + "</td></tr>"
            for m in lines
        )
        catalogue = core.engine.catalogue

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
            for k, v in staff_chats.canned(core, conversation.language).items()
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
        notice = ""
        if request.query_params.get("error"):
            notice = f'<p class="msg err">{html.escape(request.query_params["error"])}</p>'
        elif request.query_params.get("sent"):
            route = request.query_params["sent"]
            notice = f'<p class="msg">{t(session, "sent_by", route=route)}</p>'
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
            if action == "claim":
                await staff_chats.claim(
                    core, chat_id, session.email, take_over=session.role == "admin"
                )
            elif action == "reply":
                if not text.strip() and form.get("canned"):
                    async with core.engine.store.transaction(readonly=True) as tx:
                        held = await tx.get_conversation_by_id(chat_id)
                    answers = staff_chats.canned(core, held.language if held else "id")
                    text = answers.get(str(form.get("canned")), "")
                route = await staff_chats.reply(core, chat_id, session.email, text)
                return RedirectResponse(
                    f"/console/chats/{chat_id}?sent={quote(route)}", status_code=303
                )
            elif action == "transfer":
                await staff_chats.transfer(core, chat_id, session.email, str(form.get("to", "")))
                return RedirectResponse("/console/inbox", status_code=303)
            elif action == "note":
                await staff_chats.note(core, chat_id, session.email, text)
            elif action == "release":
                await staff_chats.release(core, chat_id, session.email)
                return RedirectResponse("/console/inbox", status_code=303)
            else:
                return Response(status_code=404, headers=HEADERS)
        except staff_chats.ChatError as exc:
            return RedirectResponse(
                f"/console/chats/{chat_id}?error={quote(str(exc))}", status_code=303
            )
        return RedirectResponse(f"/console/chats/{chat_id}", status_code=303)

    async def events(request: Request, session: Session) -> Response:
        """Server-Sent Events: ``change`` whenever a chat or a request changed.

        The server's one ``ActivityFeed`` watches the database; each stream
        wakes when it moves (or each second, to notice a stop or a closed
        tab), re-checks the session every half minute without counting as
        activity, and ends when the server stops."""
        cookie = request.cookies.get(COOKIE)

        async def stream() -> AsyncIterator[str]:
            feed.join()
            try:
                version = feed.version
                yield "retry: 3000\n\n"
                tick = 0
                while not core.stopping.is_set():
                    seen = await feed.wait(version, LIVE_POLL_SECONDS)
                    tick += 1
                    if core.stopping.is_set() or await request.is_disconnected():
                        return
                    if tick % 30 == 0:
                        if await session_for(core.engine, cookie, touch=False) is None:
                            return
                        yield ": still here\n\n"  # keeps proxies from closing an idle stream
                    if seen != version:
                        version = seen
                        yield f"event: change\ndata: {version}\n\n"
            finally:
                feed.leave()

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={**HEADERS, "X-Accel-Buffering": "no"},
        )

    async def live_script(request: Request) -> Response:
        return Response(LIVE_JS, media_type="text/javascript", headers=HEADERS)

    async def staff_page(
        request: Request, session: Session, notice: str = "", status: int = 200
    ) -> Response:
        """Admins: accounts (add, role, disable, new password) and their history."""
        async with core.engine.store.transaction(readonly=True) as tx:
            members = await tx.list_staff()
            history = await tx.staff_audit(50)

        def button(email: str, action: str) -> str:
            return (
                f'<form class="inline" method="post" action="/console/staff/change">'
                f'<input type="hidden" name="csrf" value="{session.csrf}">'
                f'<input type="hidden" name="email" value="{html.escape(email)}">'
                f'<button type="submit" name="action" value="{action}">'
                f"{t(session, f'account.{action}')}</button></form> "
            )

        rows = []
        for m in members:
            state = t(session, "account.disabled") if m["disabled_at"] else ""
            actions = ""
            if m["email"] != session.email:
                actions = button(m["email"], "make_agent" if m["role"] == "admin" else "make_admin")
                actions += button(m["email"], "enable" if m["disabled_at"] else "disable")
                actions += button(m["email"], "reset_password")
            rows.append(
                f"<tr><td>{html.escape(m['email'])}</td><td>{m['role']}</td>"
                f"<td>{state}</td><td>{actions}</td></tr>"
            )
        roles = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)
        log = "".join(
            f"<tr><td>{html.escape(a['created_at'][:16])}</td><td>{html.escape(a['actor'])}</td>"
            f"<td>{html.escape(a['action'])}</td><td>{html.escape(a['subject'])}</td></tr>"
            for a in history
        )
        body = (
            f"<h1>{t(session, 'staff')}</h1>{notice}"
            f'<div class="card"><table>{"".join(rows)}</table></div>'
            f'<div class="card"><h2>{t(session, "account.add")}</h2>'
            f'<form method="post" action="/console/staff/add">'
            f'<input type="hidden" name="csrf" value="{session.csrf}">'
            f'<input name="email" type="email" required placeholder="{t(session, "email")}"> '
            f'<select name="role">{roles}</select> '
            f'<button type="submit">{t(session, "account.add")}</button></form></div>'
            f'<div class="card"><h2>{t(session, "events")}</h2><table>{log}</table></div>'
            f'<p><a href="/console/settings">{t(session, "settings")}</a></p>'
        )
        return page(session.language, body, session, status)

    def one_time(session: Session, email: str, password: str) -> str:
        return (
            f'<p class="msg">{t(session, "account.password_once", email=email)}</p>'
            f'<div class="card"><code id="password">{html.escape(password)}</code></div>'
        )

    async def staff_add(request: Request, session: Session) -> Response:
        form = await request.form()
        email = str(form.get("email", "")).strip().lower()
        password = secrets.token_urlsafe(12)
        try:
            await add_staff(
                core.engine, email, str(form.get("role", "")), password, actor=session.email
            )
        except StaffError as exc:
            problem = f'<p class="msg err">{html.escape(str(exc))}</p>'
            return await staff_page(request, session, problem, 400)
        # Shown once in this answer (never cached, never in a URL), never stored in clear.
        return await staff_page(request, session, one_time(session, email, password))

    async def staff_change(request: Request, session: Session) -> Response:
        form = await request.form()
        email = str(form.get("email", ""))
        try:
            password = await change_staff(
                core.engine, session.email, email, str(form.get("action", ""))
            )
        except StaffError as exc:
            problem = f'<p class="msg err">{html.escape(str(exc))}</p>'
            return await staff_page(request, session, problem, 400)
        notice = (
            one_time(session, email, password)
            if password
            else f'<p class="msg">{t(session, "done")}</p>'
        )
        return await staff_page(request, session, notice)

    async def settings_page(request: Request, session: Session) -> Response:
        """Admins: the settings in force. They come from the environment (or
        ``.env``) and are read at start, so they are shown here, not edited;
        secrets are never shown."""
        rows = "".join(
            f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
            for name, value in visible_settings(core.settings)
        )
        body = (
            f"<h1>{t(session, 'settings')}</h1><p>{t(session, 'settings_hint')}</p>"
            f'<div class="card"><table>{rows}</table></div>'
        )
        return page(session.language, body, session)

    return [
        Route("/console/login", login, methods=["GET", "POST"]),
        Route("/console/logout", signed_in(logout), methods=["POST"]),
        Route("/console", signed_in(queue), methods=["GET"]),
        Route("/console/events", signed_in(events, touch=False), methods=["GET"]),
        Route("/console/live.js", live_script, methods=["GET"]),
        Route("/console/staff", signed_in(staff_page, admin=True), methods=["GET"]),
        Route("/console/staff/add", signed_in(staff_add, admin=True), methods=["POST"]),
        Route("/console/staff/change", signed_in(staff_change, admin=True), methods=["POST"]),
        Route("/console/settings", signed_in(settings_page, admin=True), methods=["GET"]),
        Route("/console/inbox", signed_in(inbox), methods=["GET"]),
        Route("/console/chats/{chat:int}", signed_in(chat_page), methods=["GET"]),
        Route("/console/chats/{chat:int}/{action}", signed_in(chat_action), methods=["POST"]),
        Route("/console/requests/{reference}", signed_in(request_page), methods=["GET"]),
        Route("/console/requests/{reference}/proof", signed_in(proof), methods=["GET"]),
        Route("/console/requests/{reference}/{action}", signed_in(do_action), methods=["POST"]),
    ]
