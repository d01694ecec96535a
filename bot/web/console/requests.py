"""The console's request page with its ID
proof (decrypted on the fly, every view recorded) and the lifecycle actions,
each recorded with the staff member's email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.domain.errors import Refused
from bot.domain.models import RequestRecord
from bot.infra.clock import utc_now
from bot.infra.directory import everyone_counts
from bot.requests import actions
from bot.requests.exports import MAX_UPLOADED_EXPORT_BYTES, ExportFile, ExportTooLarge
from bot.requests.lifecycle import MOVES, deadline
from bot.requests.lookup import BadReference, RequestNotFound, find_request
from bot.requests.retention import open_id_proof
from bot.staff.accounts import Session
from bot.web.console.pages import HEADERS, ConsolePages
from flows.types import RequestType

# How each action's button looks: what moves the work on, what cannot be undone.
ACTION_LOOKS = {"verify": "primary", "complete": "primary", "reject": "danger", "cancel": "danger"}


@dataclass(frozen=True)
class ActionForm:
    """One action's form: ``look`` is the button's role (primary, secondary,
    danger); ``earliest``/``latest`` bound a new due date."""

    action: str
    look: str
    multipart: bool
    earliest: str
    latest: str


def request_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    def today() -> date:
        return utc_now().astimezone(ZoneInfo(core.settings.timezone)).date()

    def action_forms(record: RequestRecord) -> list[ActionForm]:
        """The actions possible from the request's status, each styled by what
        it does: moving the work on, asking, or what cannot be undone."""
        forms = []
        for action, (sources, _) in MOVES.items():
            if record.status not in sources:
                continue
            earliest = latest = ""
            if action == "delay":
                first, last = actions.delay_window(core.services)  # what delay() accepts
                earliest, latest = first.isoformat(), last.isoformat()
            # An access request is completed with its data copy from the back office.
            multipart = action == "complete" and record.type is RequestType.ACCESS
            look = ACTION_LOOKS.get(action, "secondary")
            if action == "complete" and record.type is RequestType.DELETION:
                look = "danger"  # the customer's data is erased
            forms.append(ActionForm(action, look, multipart, earliest, latest))
        return forms

    async def request_page(request: Request, session: Session) -> Response:
        try:
            record = await find_request(core.services.store, request.path_params["reference"])
        except (RequestNotFound, BadReference):
            return kit.message(request, session, "empty", 404)
        if record.forgotten:
            match = "forgotten"
        elif record.details.get("name_mismatch"):
            match = "mismatch"
        elif await everyone_counts(core.services.directory, core.services.store):
            match = "unchecked"
        else:
            match = "registered"
        words = kit.words(session.language)
        stored = [a for a in record.attachments if a.deleted_at is None]
        proof = ""
        if stored:
            proof = "image" if stored[-1].media_type.startswith("image/") else "file"
        return kit.render(
            request,
            "request.html",
            session,
            record.reference,
            nav="queue",
            record=record,
            deadline=deadline(record, today()),
            match=match,
            details=words.facts(record.details),
            events=[words.event(e) for e in record.events],
            proof=proof,
            actions=action_forms(record),
        )

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
        return kit.flashed(f"/console/requests/{reference}", session)

    return [
        Route("/console/requests/{reference}", signed_in(request_page), methods=["GET"]),
        Route("/console/requests/{reference}/proof", signed_in(proof), methods=["GET"]),
        Route("/console/requests/{reference}/{action}", signed_in(do_action), methods=["POST"]),
    ]
