"""The console's requests: the queue by due date, a request's page with its ID
proof (decrypted on the fly, every view recorded) and the lifecycle actions,
each recorded with the staff member's email.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.domain.errors import Refused
from bot.domain.models import RequestRecord
from bot.infra.clock import utc_now
from bot.infra.directory import everyone_counts
from bot.requests import actions
from bot.requests.exports import MAX_UPLOADED_EXPORT_BYTES, ExportFile, ExportTooLarge
from bot.requests.lifecycle import MOVES, deadline
from bot.requests.lookup import BadReference, RequestNotFound, find_request, list_requests
from bot.requests.retention import open_id_proof
from bot.staff.accounts import Session
from bot.web.console.pages import HEADERS, ConsolePages
from flows.types import OPEN_STATUSES, RequestStatus, RequestType


def request_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, t, page, signed_in = kit.core, kit.t, kit.page, kit.signed_in

    def today() -> date:
        return utc_now().astimezone(ZoneInfo(core.settings.timezone)).date()

    async def queue(request: Request, session: Session) -> Response:
        lang = request.query_params.get("lang")
        if lang in ("id", "en") and lang != session.language:
            async with core.services.store.transaction() as tx:
                await tx.touch_session(session.id_hash, core.services.clock(), lang)
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
        statuses = (
            OPEN_STATUSES
            if status == "open"
            else None
            if status == "all"
            else [s for s in RequestStatus if s.value == status]  # unknown: none
        )
        kinds = [k for k in RequestType if k.value == kind] if kind else None
        found = await list_requests(core.services.store, statuses, kinds, search)
        rows = []
        for r in found:
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
                f"<td>{d.business_days_left if r.status.is_open else '-'}</td></tr>"
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
                earliest, latest = actions.delay_window(core.services)  # what delay() accepts
                extra += (
                    f' <input name="until" type="date" required min="{earliest}" max="{latest}"'
                    f' title="{t(session, "until")}">'
                )
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
            record = await find_request(core.services.store, request.path_params["reference"])
        except (RequestNotFound, BadReference):
            return page(session.language, f"<p>{t(session, 'empty')}</p>", session, 404)
        notice = kit.notice(session, request)
        if record.forgotten:
            match = "forgotten"
        elif record.details.get("name_mismatch"):
            match = "mismatch"
        elif await everyone_counts(core.services.directory, core.services.store):
            match = "unchecked"
        else:
            match = "registered"
        label = core.services.catalogue.text
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
            record = await find_request(core.services.store, request.path_params["reference"])
        except (RequestNotFound, BadReference):
            return Response(status_code=404, headers=HEADERS)
        stored = [a for a in record.attachments if a.deleted_at is None]
        if not stored:
            return Response(status_code=404, headers=HEADERS)
        data = await open_id_proof(core.services, stored[-1].token, session.email, "console")
        return Response(data, media_type=stored[-1].media_type, headers=HEADERS)

    async def do_action(request: Request, session: Session) -> Response:
        """One act through ``bot.requests.actions`` with the form's fields as
        typed; a refusal goes back to the request's page named by its key."""
        reference = request.path_params["reference"]
        action = request.path_params["action"]
        if action not in MOVES:
            return Response(status_code=404, headers=HEADERS)
        form = await request.form()
        services, actor = core.services, f"staff:{session.email}"

        def field(name: str) -> str | None:
            value = form.get(name)
            return value if isinstance(value, str) else None

        try:
            if action == "complete":
                files = []
                for upload in form.getlist("export"):
                    if isinstance(upload, str) or not upload.filename:
                        continue
                    data = await upload.read(MAX_UPLOADED_EXPORT_BYTES + 1)
                    if len(data) > MAX_UPLOADED_EXPORT_BYTES:
                        raise ExportTooLarge(upload.filename)
                    files.append(ExportFile(upload.filename, data))
                await actions.complete(services, reference, actor, files=files)
            elif action == "verify":
                await actions.verify(services, reference, actor)
            elif action == "ask":
                await actions.ask(services, reference, actor, field("message"))
            elif action == "reject":
                await actions.reject(services, reference, actor, field("reason"))
            elif action == "delay":
                await actions.delay(services, reference, actor, field("reason"), field("until"))
            else:
                await actions.cancel(services, reference, actor)
        except (RequestNotFound, BadReference):
            return Response(status_code=404, headers=HEADERS)
        except Refused as exc:
            return kit.refused(f"/console/requests/{reference}", exc)
        return RedirectResponse(f"/console/requests/{reference}?done=1", status_code=303)

    return [
        Route("/console", signed_in(queue), methods=["GET"]),
        Route("/console/requests/{reference}", signed_in(request_page), methods=["GET"]),
        Route("/console/requests/{reference}/proof", signed_in(proof), methods=["GET"]),
        Route("/console/requests/{reference}/{action}", signed_in(do_action), methods=["POST"]),
    ]
