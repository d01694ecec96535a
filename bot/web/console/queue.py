"""The console's queue of requests: filtered by status and type, searched by
reference, email or name, sorted by any column, fifty to a page.

The database filters, sorts and pages (``bot.requests.lookup.queue_page``):
the page never loads every request. Whatever the URL holds, the page
answers: an unknown status, type, sort, direction or page reads as the
default, never as an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.domain.models import RequestRecord
from bot.requests.lifecycle import Deadline, deadline
from bot.requests.lookup import queue_page
from bot.staff.accounts import Session
from bot.store.interface.requests import QUEUE_SORTS, QueueQuery
from bot.web.console.pages import ConsolePages
from flows.types import OPEN_STATUSES, RequestStatus, RequestType

PAGE_SIZE = 50
MAX_SEARCH = 200  # characters of a search kept; nobody types a longer one
DIRECTIONS = ("asc", "desc")
# The table's columns that sort, in the order shown; "reference" also sorts.
SORTED_COLUMNS = ("reference", "name", "email", "channel", "status", "filed", "due", "days")


@dataclass(frozen=True)
class QueueRow:
    request: RequestRecord
    deadline: Deadline
    filed: date  # the filing day where the service is


@dataclass(frozen=True)
class QueueView:
    """What the URL asked for, each part validated (unknown: the default)."""

    status: str = "open"
    kind: str = ""
    search: str = ""
    sort: str = QUEUE_SORTS[0]
    direction: str = "asc"
    page: int = 1

    @classmethod
    def read(cls, params: Any) -> QueueView:
        statuses = {"open", "all", *(s.value for s in RequestStatus)}
        status = params.get("status", "open")
        kind = params.get("type", "")
        sort = params.get("sort", QUEUE_SORTS[0])
        direction = params.get("dir", "asc")
        page = params.get("page", "1")
        return cls(
            status=status if status in statuses else "open",
            kind=kind if kind in {k.value for k in RequestType} else "",
            search=params.get("q", "").strip()[:MAX_SEARCH],
            sort=sort if sort in QUEUE_SORTS else QUEUE_SORTS[0],
            direction=direction if direction in DIRECTIONS else "asc",
            page=max(int(page), 1)
            if page.isascii() and page.isdigit() and 0 < len(page) < 8
            else 1,
        )

    def query(self, page: int | None) -> QueueQuery:
        """The store's query for one page, or for every match (``None``: the
        export, in the same order)."""
        statuses: tuple[RequestStatus, ...] | None = (
            OPEN_STATUSES
            if self.status == "open"
            else None
            if self.status == "all"
            else (RequestStatus(self.status),)
        )
        return QueueQuery(
            statuses=statuses,
            types=(RequestType(self.kind),) if self.kind else None,
            search=self.search,
            sort=self.sort,
            descending=self.direction == "desc",
            limit=None if page is None else PAGE_SIZE,
            offset=0 if page is None else (max(page, 1) - 1) * PAGE_SIZE,
        )

    def url(self, **changes: Any) -> str:
        """This view's link with ``changes`` (sort, dir, page): the filters
        kept, defaults left out so links stay short."""
        values = {
            "status": self.status,
            "type": self.kind,
            "q": self.search,
            "sort": self.sort,
            "dir": self.direction,
            "page": self.page,
            **changes,
        }
        defaults = {"status": "open", "type": "", "q": "", "sort": QUEUE_SORTS[0], "dir": "asc"}
        kept = {
            k: v for k, v in values.items() if v != defaults.get(k) and not (k == "page" and v == 1)
        }
        return "/console" + (f"?{urlencode(kept)}" if kept else "")

    def export_url(self) -> str:
        """The CSV of what this view finds, in its order, every page."""
        return self.url(page=1).replace("/console", "/console/queue.csv", 1)

    def sort_url(self, column: str) -> str:
        """The column's header link: sorted by it ascending, or the other way
        round when it is the sort already; back to the first page."""
        flipped = "desc" if self.sort == column and self.direction == "asc" else "asc"
        return self.url(sort=column, dir=flipped, page=1)

    def aria_sort(self, column: str) -> str:
        if self.sort != column:
            return "none"
        return "ascending" if self.direction == "asc" else "descending"


def page_numbers(page: int, pages: int) -> list[int | None]:
    """The page links shown: the first, the last and two either side of this
    one; None where pages are left out."""
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    numbers: list[int | None] = []
    for n in shown:
        if numbers and n - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(n)
    return numbers


def queue_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    async def queue(request: Request, session: Session) -> Response:
        zone = ZoneInfo(core.settings.timezone)
        today = core.services.clock().astimezone(zone).date()
        view = QueueView.read(request.query_params)
        store = core.services.store
        found, total = await queue_page(store, view.query(view.page))
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if view.page > pages:  # past the end (the queue shrank, or a typed URL): the last
            view = replace(view, page=pages)
            found, total = await queue_page(store, view.query(view.page))
            pages = max(1, math.ceil(total / PAGE_SIZE))
        rows = [
            QueueRow(r, deadline(r, today), r.created_at.astimezone(zone).date()) for r in found
        ]
        return kit.render(
            request,
            "queue.html",
            session,
            kit.t(session, "queue"),
            nav="queue",
            rows=rows,
            view=view,
            total=total,
            pages=pages,
            page_numbers=page_numbers(view.page, pages),
            statuses=("open", "all", *(s.value for s in RequestStatus)),
            kinds=[k.value for k in RequestType],
            sorts=[s for s in QUEUE_SORTS if s != "days"],
            answered=RequestStatus.INFO_RECEIVED,
        )

    return [Route("/console", signed_in(queue), methods=["GET"])]
