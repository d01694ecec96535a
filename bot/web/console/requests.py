"""The console's request page: the request in words (its facts, its ID proofs,
the notifications sent for it, its history) and the lifecycle actions.

An ID proof is shown only after a form says why (``reveal``): the look is
recorded first, with the staff member's email, "console" and the reason, and
the page then carries a URL for that file signed with the session's secret
and good for ``SHOWN_SECONDS`` (opening the page records nothing and shows no
file). Every act goes through the use cases the command line and the API call
(``bot.requests.actions``; a notification's retry through
``bot.delivery.notifications``), recorded with the staff member's email; a
refused form comes back with what was typed and why, in the reader's language.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.delivery.notifications import retry_notification
from bot.domain.errors import Refused
from bot.domain.models import RequestRecord
from bot.infra.directory import everyone_counts
from bot.requests import actions
from bot.requests.exports import MAX_UPLOADED_EXPORT_BYTES, ExportFile, ExportTooLarge
from bot.requests.lifecycle import MOVES, deadline
from bot.requests.lookup import BadReference, RequestNotFound, find_request
from bot.requests.retention import (
    VIEW_REASONS,
    ViewRefused,
    read_id_proof,
    record_id_proof_view,
    view_reason,
)
from bot.staff.accounts import Session
from bot.web.console.account import client_address
from bot.web.console.pages import HEADERS, ConsolePages, Notice
from bot.web.console.request_view import (
    EXTENSIONS,
    INLINE_IMAGES,
    Typed,
    action_forms,
    form_params,
    grouped,
    notice_rows,
    proof_files,
)
from bot.web.console.words import Words

# How long a recorded look lets the page show that file (a reload included).
SHOWN_SECONDS = 600
# At most this much of a refused form's text is shown again.
TYPED_MAX = 5000
# The served file itself: nothing in it runs, nothing guesses its type.
FILE_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class ConfirmMissing(Refused):
    """An act that ends the request, posted without its confirmation."""


def request_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    def today() -> date:
        return core.services.clock().astimezone(ZoneInfo(core.settings.timezone)).date()

    def grant(session: Session, reference: str, number: int, until: int) -> str:
        text = f"proof|{reference}|{number}|{until}"
        return hmac.new(session.csrf.encode(), text.encode(), hashlib.sha256).hexdigest()[:32]

    def granted(session: Session, reference: str, number: int, params: Any) -> bool:
        """Whether the URL carries this session's fresh grant for this file."""
        until = str(params.get("until", ""))
        if not until.isdigit() or len(until) > 12:
            return False
        if int(until) < core.services.clock().timestamp():
            return False
        given = str(params.get("grant", ""))
        return hmac.compare_digest(given, grant(session, reference, number, int(until)))

    def file_url(session: Session, reference: str, number: int, until: int) -> str:
        query = urlencode({"until": until, "grant": grant(session, reference, number, until)})
        return f"/console/requests/{reference}/proofs/{number}?{query}"

    async def find(request: Request) -> RequestRecord | None:
        try:
            return await find_request(core.services.store, request.path_params["reference"])
        except (RequestNotFound, BadReference):
            return None

    async def directory_match(record: RequestRecord) -> str:
        if record.forgotten:
            return "forgotten"
        if record.details.get("name_mismatch"):
            return "mismatch"
        if await everyone_counts(core.services.directory, core.services.store):
            return "unchecked"
        return "registered"

    def facts(
        record: RequestRecord, words: Words, match: str, reader: str
    ) -> list[tuple[str, str]]:
        """The request's fields and what is known of the customer's identity,
        each with its label; nothing unset shows as a Python value."""
        t = words.t
        filed = next((e for e in record.events if e.kind == "filed"), None)
        verified = [e for e in record.events if e.kind == "verify"]
        stored = [a for a in record.attachments if a.deleted_at is None]
        identity = t("request.identity_open")
        if verified:
            last = verified[-1]
            identity = t(
                "request.identity_by", who=words.actor(last.actor, reader), at=words.when(last.at)
            )
        shown = [
            (t("reference"), record.reference),
            (t("type"), words.kind(record.type)),
            (t("status"), words.state(record.status)),
            (t("request.filed_at"), words.when(record.created_at)),
            (t("channel"), words.channel(record.channel)),
            (t("request.customer_language"), words.language(record.language)),
            (t("full_name"), record.full_name or "–"),
            (t("email"), "–" if record.forgotten else record.email),
            (
                t("request.email_check"),
                t("request.email_by_code")
                if filed and filed.data.get("email_verified")
                else t("request.email_unchecked"),
            ),
            (t("directory"), t(f"match.{match}")),
            (t("request.identity"), identity),
            (t("proof"), t("request.proof_count", count=len(stored))),
            (t("reason"), record.reason or "–"),
        ]
        # The reason chosen from the list is the reason above, written out: once is enough.
        details = [(k, v) for k, v in words.facts(record.details) if v != record.reason]
        return shown + details

    async def render_page(
        request: Request,
        session: Session,
        record: RequestRecord,
        *,
        status: int = 200,
        notices: tuple[Notice, ...] = (),
        typed: Typed | None = None,
    ) -> Response:
        words = kit.words(session.language)
        reference = record.reference
        shown: dict[int, str] = {}
        number = str(request.query_params.get("proof", ""))
        if (
            number.isdigit()
            and len(number) < 6
            and request.method == "GET"
            and granted(session, reference, int(number), request.query_params)
        ):
            until = int(str(request.query_params["until"]))
            shown[int(number)] = file_url(session, reference, int(number), until)
        async with core.services.store.transaction(readonly=True) as tx:
            notifications = await tx.request_notifications(reference)
        channels = {n.channel: words.notice_channel(n.channel) for n in notifications}
        forms = action_forms(record, words, actions.delay_window(core.services), typed)
        return kit.render(
            request,
            "request.html",
            session,
            reference,
            nav="queue",
            status=status,
            notices=notices,
            record=record,
            deadline=deadline(record, today()),
            facts=facts(record, words, await directory_match(record), session.email),
            events=[words.event(e, session.email) for e in reversed(record.events)],
            proofs=proof_files(record, words, session.email, shown),
            view_reasons=VIEW_REASONS,
            typed=typed or Typed(),
            notifications=notice_rows(notifications, words, channels),
            groups=grouped(forms),
            customer_reads=t_reads(words, record),
        )

    def t_reads(words: Words, record: RequestRecord) -> str:
        return words.t("request.customer_reads", language=words.language(record.language))

    async def request_page(request: Request, session: Session) -> Response:
        record = await find(request)
        if record is None:
            return kit.message(request, session, "empty", 404)
        return await render_page(request, session, record)

    async def back_to_page(request: Request, session: Session) -> Response:
        """A form's address opened as a page (the language switch on a refused
        form's answer, a bookmark): the request's page."""
        return RedirectResponse(f"/console/requests/{request.path_params['reference']}", 303)

    async def reveal(request: Request, session: Session) -> Response:
        """Record why a staff member opens an ID proof, then show it: back to
        the page with a signed URL for that one file."""
        record = await find(request)
        number = request.path_params["number"]
        if record is None or not 1 <= number <= len(record.attachments):
            return Response(status_code=404, headers=HEADERS)
        form = await request.form()
        choice, note = _text(form, "reason"), _text(form, "note")
        try:
            reason = view_reason(choice if choice != "other" else "", note)
            token = record.attachments[number - 1].token
            await record_id_proof_view(
                core.services,
                record.reference,
                token,
                session.email,
                "console",
                reason,
                client_address(request),
            )
        except Refused as exc:
            problem = kit.problem(session, exc)
            typed = Typed(f"proof-{number}", {"reason": choice, "note": note}, problem.text)
            fresh = await find(request) or record
            return await render_page(
                request, session, fresh, status=400, notices=(problem,), typed=typed
            )
        until = int(core.services.clock().timestamp()) + SHOWN_SECONDS
        query = urlencode(
            {
                "proof": number,
                "until": until,
                "grant": grant(session, record.reference, number, until),
            }
        )
        return RedirectResponse(
            f"/console/requests/{record.reference}?{query}#proof-{number}", status_code=303
        )

    async def proof_file(request: Request, session: Session) -> Response:
        """One ID proof, decrypted on the fly, for a URL the page signed after
        recording the look; images as themselves, any other file as a download."""
        record = await find(request)
        number = request.path_params["number"]
        if (
            record is None
            or not 1 <= number <= len(record.attachments)
            or not granted(session, record.reference, number, request.query_params)
        ):
            return Response(status_code=404, headers=HEADERS)
        attachment = record.attachments[number - 1]
        if attachment.deleted_at is not None:
            return Response(status_code=404, headers=HEADERS)
        try:
            data = await read_id_proof(core.services, attachment.token)
        except ViewRefused as exc:
            return kit.message(request, session, f"problem.{exc.key}", 404)
        media = attachment.media_type
        name = f"{record.reference}-{number}.{EXTENSIONS.get(media, 'bin')}"
        inline = media in INLINE_IMAGES
        headers = {
            **FILE_HEADERS,
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
        }
        served = media if inline or media == "application/pdf" else "application/octet-stream"
        return Response(data, media_type=served, headers=headers)

    async def retry(request: Request, session: Session) -> Response:
        """Send a failed notification again (``retry_notification``)."""
        record = await find(request)
        if record is None:
            return Response(status_code=404, headers=HEADERS)
        path = f"/console/requests/{record.reference}"
        try:
            await retry_notification(
                core.services, record.reference, request.path_params["id"], f"staff:{session.email}"
            )
        except Refused as exc:
            return kit.refused(path, exc)
        return kit.flashed(path, session)

    async def do_action(request: Request, session: Session) -> Response:
        """One act through ``bot.requests.actions``, chosen by name from
        ``MOVES`` with the form's fields as typed. An act that ends the request
        needs its confirmation. A refusal answers with the page again, the
        form filled with what was typed and the reason in the reader's words."""
        action = request.path_params["action"]
        use_case = getattr(actions, action, None)
        record = await find(request)
        if action not in MOVES or use_case is None or record is None:
            return Response(status_code=404, headers=HEADERS)
        form = await request.form()
        reference, actor = record.reference, f"staff:{session.email}"
        given = {name: _text(form, name) for name in ("message", "reason", "until")}
        forms = {
            f.action: f
            for f in action_forms(
                record, kit.words(session.language), actions.delay_window(core.services)
            )
        }
        try:
            offered = forms.get(action)
            if offered is not None and offered.confirm and not form.get("sure"):
                raise ConfirmMissing("confirm_missing")
            kwargs: dict[str, Any] = {name: given[name] for name in form_params(action)}
            if action == "complete":
                kwargs["files"] = await _exports(form)
            await use_case(core.services, reference, actor, **kwargs)
        except (RequestNotFound, BadReference):
            return Response(status_code=404, headers=HEADERS)
        except Refused as exc:
            problem = kit.problem(session, exc)
            values = {k: (v or "")[:TYPED_MAX] for k, v in given.items()}
            typed = Typed(action, values, problem.text)
            fresh = await find(request) or record
            return await render_page(
                request, session, fresh, status=400, notices=(problem,), typed=typed
            )
        return kit.flashed(f"/console/requests/{reference}", session)

    page = "/console/requests/{reference}"
    return [
        Route(page, signed_in(request_page), methods=["GET"]),
        Route(page + "/proofs/{number:rowid}/reveal", signed_in(reveal), methods=["POST"]),
        Route(page + "/proofs/{number:rowid}", signed_in(proof_file), methods=["GET"]),
        Route(page + "/notifications/{id:rowid}/retry", signed_in(retry), methods=["POST"]),
        Route(page + "/{action}", signed_in(do_action), methods=["POST"]),
        Route(page + "/{action}", signed_in(back_to_page), methods=["GET"]),
    ]


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


async def _exports(form: FormData) -> list[ExportFile]:
    """The data copy's files as uploaded (none: the act says what is missing)."""
    files = []
    for upload in form.getlist("export"):
        if isinstance(upload, str) or not upload.filename:
            continue
        data = await upload.read(MAX_UPLOADED_EXPORT_BYTES + 1)
        if len(data) > MAX_UPLOADED_EXPORT_BYTES:
            raise ExportTooLarge(upload.filename)
        files.append(ExportFile(upload.filename, data))
    return files
