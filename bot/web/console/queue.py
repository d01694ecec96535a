"""The console's queue of requests: by due date, filtered by status and type,
searched by reference, email or name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.domain.models import RequestRecord
from bot.infra.clock import utc_now
from bot.requests.lifecycle import Deadline, deadline
from bot.requests.lookup import list_requests
from bot.staff.accounts import Session
from bot.web.console.pages import ConsolePages
from flows.types import OPEN_STATUSES, RequestStatus, RequestType


@dataclass(frozen=True)
class QueueRow:
    request: RequestRecord
    deadline: Deadline


def queue_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    def today() -> date:
        return utc_now().astimezone(ZoneInfo(core.settings.timezone)).date()

    async def queue(request: Request, session: Session) -> Response:
        status = request.query_params.get("status", "open")
        kind = request.query_params.get("type", "")
        typed = request.query_params.get("q", "").strip()
        statuses = (
            OPEN_STATUSES
            if status == "open"
            else None
            if status == "all"
            else [s for s in RequestStatus if s.value == status]  # unknown: none
        )
        kinds = [k for k in RequestType if k.value == kind] if kind else None
        found = await list_requests(core.services.store, statuses, kinds, typed.casefold())
        return kit.render(
            request,
            "queue.html",
            session,
            kit.t(session, "queue"),
            nav="queue",
            rows=[QueueRow(r, deadline(r, today())) for r in found],
            chosen_status=status,
            statuses=("open", "all", *(s.value for s in RequestStatus)),
            chosen_kind=kind,
            kinds=[k.value for k in RequestType],
            search=typed,
        )

    return [Route("/console", signed_in(queue), methods=["GET"])]
