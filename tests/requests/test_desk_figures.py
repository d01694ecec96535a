"""The dashboard's figures, counted by the database, against a desk whose
numbers were worked out by hand with the fixed clock (Thursday 26 November
2026, 10:00 in Jakarta), and their cost with 10,000 requests."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, date, datetime

import pytest

from bot.conversation.engine import Engine
from bot.domain.models import Channel
from bot.requests.figures import OnTime, desk_figures
from bot.store.sqlite import SQLiteStore
from flows.types import OPEN_STATUSES, RequestStatus, RequestType

S = RequestStatus
# reference, status, due date, completed at (UTC) or None
DESK = [
    ("ACC-00000A", S.AWAITING_ID_PROOF, date(2026, 11, 25), None),  # overdue since yesterday
    ("ACC-00000B", S.VERIFYING, date(2026, 11, 26), None),  # due today: this week
    ("ACC-00000C", S.VERIFYING, date(2026, 12, 3), None),  # the 5th business day ahead
    ("ACC-00000D", S.NEEDS_INFO, date(2026, 12, 4), None),  # the 6th: later
    ("ACC-00000E", S.IN_PROGRESS, date(2026, 11, 20), None),  # overdue
    # 23:30 in Jakarta on its due day: on time.
    ("ACC-00000F", S.COMPLETED, date(2026, 11, 20), datetime(2026, 11, 20, 16, 30, tzinfo=UTC)),
    # 00:30 in Jakarta the day after (still the 20th in UTC): late.
    ("ACC-00000G", S.COMPLETED, date(2026, 11, 20), datetime(2026, 11, 20, 17, 30, tzinfo=UTC)),
    # 72 and 77 days ago: in the 90 days only, both on time.
    ("ACC-00000H", S.COMPLETED, date(2026, 10, 1), datetime(2026, 9, 15, 3, 0, tzinfo=UTC)),
    ("ACC-00000J", S.COMPLETED, date(2026, 9, 10), datetime(2026, 9, 10, 3, 0, tzinfo=UTC)),
    # Half a year ago, and a rejection: in no figure.
    ("ACC-00000K", S.COMPLETED, date(2026, 5, 1), datetime(2026, 6, 1, 3, 0, tzinfo=UTC)),
    ("ACC-00000M", S.REJECTED, date(2026, 11, 1), None),
]


async def test_the_figures_match_the_desk_counted_by_hand(engine: Engine) -> None:
    services = engine.services
    filed = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
    async with services.store.transaction() as tx:
        conversation = await tx.create_conversation(Channel.TERMINAL, "t", "menu", "id", filed)
        for reference, status, due, completed in DESK:
            await tx.insert_request(
                reference=reference,
                type=RequestType.ACCESS,
                status=status,
                channel=Channel.TERMINAL,
                customer_address="t",
                conversation_id=conversation.id,
                language="id",
                full_name="Sari",
                email="sari@example.com",
                reason=None,
                details={},
                now=filed,
                due_date=due,
            )
            if completed:
                await tx.add_request_event(reference, "cli", "complete", {}, completed)
    figures = await desk_figures(services)
    assert figures.today == date(2026, 11, 26)
    assert figures.week_ends == date(2026, 12, 3)  # Fri, Mon, Tue, Wed, Thu
    assert figures.open_by_status == (
        ("awaiting_id_proof", 1),
        ("verifying", 2),
        ("needs_info", 1),
        ("info_received", 0),
        ("in_progress", 1),
    )
    assert figures.open_total == 5
    assert (figures.due_this_week, figures.overdue) == (2, 2)
    assert figures.on_time == (OnTime(30, 2, 1), OnTime(90, 4, 3))
    assert [w.percent for w in figures.on_time] == [50, 75]


@pytest.mark.sqlite_only  # SQLite's own statements counted
async def test_the_figures_of_10000_requests_take_a_few_queries(engine: Engine) -> None:
    services = engine.services
    store = services.store
    assert isinstance(store, SQLiteStore)
    statuses = [s.value for s in RequestStatus]
    with sqlite3.connect(store.path) as db:
        db.execute(
            "INSERT INTO conversations (channel, address, state, language, created_at, "
            "updated_at) VALUES ('terminal', 'bulk', 'menu', 'id', '2026-01-01', '2026-01-01')"
        )
        requests = [
            (
                f"ACC-{n:06d}",
                "access",
                statuses[n % len(statuses)],
                "terminal",
                "bulk",
                1,
                "id",
                "Sari",
                "sari@example.com",
                "2026-06-01T03:00:00+00:00",
                "2026-06-01T03:00:00+00:00",
                date.fromordinal(date(2026, 6, 1).toordinal() + n % 300).isoformat(),
            )
            for n in range(10_000)
        ]
        db.executemany(
            "INSERT INTO requests (reference, type, status, channel, customer_address, "
            "conversation_id, language, full_name, email, created_at, updated_at, due_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            requests,
        )
        db.execute(
            "INSERT INTO request_events (request_id, at, actor, kind) "
            "SELECT id, strftime('%Y-%m-%dT%H:%M:%S+00:00', '2026-08-01', "
            "'+' || (id % 115) || ' days'), 'cli', 'complete' FROM requests "
            "WHERE status = 'completed'"
        )
    started = time.perf_counter()
    figures = await desk_figures(services)
    took = time.perf_counter() - started
    still_open = {s.value for s in OPEN_STATUSES}
    assert figures.open_total == sum(1 for r in requests if r[2] in still_open)
    assert figures.on_time[1].completed > 0
    # A few indexed queries: well under a second even on a busy test machine.
    assert took < 0.5, took
    print(f"desk figures of 10,000 requests: {took * 1000:.0f} ms")
