"""The desk as a whole: the dashboard (open requests by status, due within a
working week, overdue, the share completed on time over 30 and 90 days, as
figures and as server-drawn charts; live.js swaps in new figures when
requests move) and the queue exported as CSV.

The export holds personal data (names, emails), so every download is kept in
the audit with who, when and from where. Spreadsheets run a cell that starts
with ``= + - @`` (or a tab or carriage return) as a formula: such a text cell
is written with a leading apostrophe, which shows it as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.domain.models import RequestRecord
from bot.requests.figures import DeskFigures, desk_figures
from bot.requests.lifecycle import deadline
from bot.requests.lookup import queue_page
from bot.staff.accounts import Session
from bot.web.console.account import client_address
from bot.web.console.charts import Chart, bar_chart
from bot.web.console.pages import HEADERS, ConsolePages
from bot.web.console.queue import QueueView
from bot.web.console.words import Words

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "reference",
    "type",
    "status",
    "channel",
    "full_name",
    "email",
    "created",
    "due",
    "days_left",
    "updated",
)


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet will not run as a formula; numbers as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def queue_csv(records: Sequence[RequestRecord], words: Words, today: date) -> bytes:
    """The rows as CSV for Excel: UTF-8 with a byte-order mark, headers in the
    reader's language, stored codes in words, dates and times ISO 8601 (times
    in the service's zone, with its offset)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([words.t(f"desk.csv.{column}") for column in CSV_COLUMNS])
    for r in records:
        left = deadline(r, today).business_days_left if r.status.is_open else ""
        row = (
            r.reference,
            words.kind(r.type),
            words.state(r.status),
            words.channel(r.channel),
            r.full_name,
            r.email,
            r.created_at.astimezone(words.zone).isoformat(timespec="seconds"),
            r.due_date.isoformat(),
            left,
            r.updated_at.astimezone(words.zone).isoformat(timespec="seconds"),
        )
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue().encode("utf-8")


def _charts(figures: DeskFigures, words: Words) -> tuple[Chart, Chart]:
    most = max((count for _, count in figures.open_by_status), default=0) or 1
    by_status = [
        (words.state(status), str(count), [(count / most, words.look(status))])
        for status, count in figures.open_by_status
    ]
    described = ", ".join(f"{label} ({value})" for label, value, _ in by_status)
    open_chart = bar_chart(
        "chart-open",
        words.t("desk.dash.open_title"),
        words.t("desk.dash.open_desc", total=figures.open_total, list=described),
        by_status,
    )
    rows, sentences = [], []
    for window in figures.on_time:
        label = words.t("desk.dash.window", days=window.days)
        if window.percent is None:
            rows.append((label, "–", []))
            sentences.append(words.t("desk.dash.none_completed", days=window.days))
            continue
        on_share = window.on_time / window.completed
        rows.append((label, f"{window.percent}%", [(on_share, "success"), (1 - on_share, "warn")]))
        sentences.append(
            words.t(
                "desk.dash.on_time_text",
                days=window.days,
                completed=window.completed,
                on_time=window.on_time,
                percent=window.percent,
            )
        )
    on_time_chart = bar_chart(
        "chart-on-time", words.t("desk.dash.on_time_title"), " ".join(sentences), rows
    )
    return open_chart, on_time_chart


def dashboard_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    async def dashboard(request: Request, session: Session) -> Response:
        figures = await desk_figures(core.services)
        words = kit.words(session.language)
        open_chart, on_time_chart = _charts(figures, words)
        return kit.render(
            request,
            "dashboard.html",
            session,
            kit.t(session, "desk.dash.title"),
            nav="dashboard",
            figures=figures,
            open_chart=open_chart,
            on_time_chart=on_time_chart,
        )

    async def export(request: Request, session: Session) -> Response:
        """What the queue page shows for the same URL (filters, search, sort),
        every page of it, as CSV: the queue's own reading of the URL and
        query, so the file never finds more or fewer than the page."""
        view = QueueView.read(request.query_params)
        found, _ = await queue_page(core.services.store, view.query(None))
        now = core.services.clock()
        words = kit.words(session.language)
        today = now.astimezone(ZoneInfo(core.settings.timezone)).date()
        body = queue_csv(found, words, today)
        # What was exported: "STATUS TYPE ROWS SEARCH" (the audit view words it).
        subject = f"{view.status} {view.kind or 'all'} {len(found)} {view.search}".rstrip()
        async with core.services.store.transaction() as tx:
            await tx.add_access_log("export", session.email, subject, client_address(request), now)
        name = f"{words.t('desk.csv.file')}-{today.isoformat()}.csv"
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    return [
        Route("/console/dashboard", signed_in(dashboard), methods=["GET"]),
        Route("/console/queue.csv", signed_in(export), methods=["GET"]),
    ]
