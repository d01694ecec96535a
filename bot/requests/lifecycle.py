"""What staff (and customers) may do to a request, and nothing else.

Every action is one transaction that checks the move is legal from the
request's current status, changes it, and records who did it, when and why
as an event. The command line calls these functions; the web console will
call the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.business_days import business_days_between
from bot.domain.models import RequestRecord
from bot.requests.lookup import RequestNotFound
from bot.requests.notify import notify
from bot.store import Store, Transaction
from flows.dialogue import await_info
from flows.types import OPEN_STATUSES, RequestStatus
from flows.validators import parse_reference

S = RequestStatus

# action -> (statuses it may start from, status it leads to; None keeps the status)
MOVES: dict[str, tuple[tuple[RequestStatus, ...], RequestStatus | None]] = {
    "verify": ((S.VERIFYING, S.NEEDS_INFO), S.IN_PROGRESS),
    "ask": ((S.AWAITING_ID_PROOF, S.VERIFYING, S.IN_PROGRESS), S.NEEDS_INFO),
    "reject": (OPEN_STATUSES, S.REJECTED),
    "delay": (OPEN_STATUSES, None),
    "complete": ((S.IN_PROGRESS,), S.COMPLETED),
    "cancel": (OPEN_STATUSES, S.CANCELLED),
}


# What the customer is told after each action (issue: receipt at filing, then these).
NOTICES = {
    "verify": "in_progress",
    "ask": "needs_info",
    "delay": "delayed",
    "reject": "rejected",
    "complete": "completed",
}


class IllegalMove(ValueError):
    """The action is not possible from the request's current status. ``key``
    names the console's text for it under ``console.problem``."""

    def __init__(self, message: str, key: str = "not_possible") -> None:
        super().__init__(message)
        self.key = key


MAX_YEARS_AHEAD = 2


class DateOutOfRange(IllegalMove):
    """A new due date in the past or more than two years ahead. Nothing
    legitimate needs a later one, and an unbounded date (9999-12-31) is a date
    every listing and notice must then carry. ``earliest`` and ``latest`` let
    each door word the limits in its own language."""

    def __init__(self, until: date, earliest: date, latest: date) -> None:
        super().__init__(
            f"the new date {until.isoformat()} must be between today ({earliest.isoformat()}) "
            f"and {latest.isoformat()}, at most {MAX_YEARS_AHEAD} years ahead",
            key="until_range",
        )
        self.until, self.earliest, self.latest = until, earliest, latest


class BadDate(ValueError):
    """A new due date that is no date at all: not YYYY-MM-DD, or a day the
    calendar does not have (2027-02-30, year 10000). ``key`` names the
    console's text for it under ``console.problem``."""

    key = "bad_date"

    def __init__(self, raw: str) -> None:
        super().__init__(f"invalid date {raw!r} (YYYY-MM-DD)")


def parse_due_date(raw: str) -> date:
    """A new due date as a form sends it (YYYY-MM-DD); ``BadDate`` if it is none."""
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadDate(raw) from None


def due_date_window(today: date) -> tuple[date, date]:
    """The first and last day a request may be delayed to (the console's date
    picker offers the same)."""
    try:
        latest = today.replace(year=today.year + MAX_YEARS_AHEAD)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + MAX_YEARS_AHEAD, day=28)
    return today, latest


@dataclass(frozen=True)
class ActionResult:
    request: RequestRecord
    previous: RequestStatus


async def act(
    store: Store,
    clock: Callable[[], datetime],
    reference: str,
    action: str,
    actor: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    until: date | None = None,
    timezone: str = "UTC",
) -> ActionResult:
    """One staff action, in its own transaction. ``timezone`` is the service's:
    "today" for a new due date is the day there."""
    normalised = parse_reference(reference)
    if normalised is None:
        raise RequestNotFound(reference)
    _require(action, reason=reason, message=message, until=until)
    async with store.transaction() as tx:
        record = await tx.get_request(normalised)
        if record is None:
            raise RequestNotFound(normalised)
        await apply_move(
            tx,
            record,
            action,
            actor,
            clock(),
            reason=reason,
            message=message,
            until=until,
            timezone=timezone,
        )
        updated = await tx.get_request(record.reference)
    assert updated is not None
    return ActionResult(request=updated, previous=record.status)


async def apply_move(
    tx: Transaction,
    record: RequestRecord,
    action: str,
    actor: str,
    now: datetime,
    *,
    reason: str | None = None,
    message: str | None = None,
    until: date | None = None,
    timezone: str = "UTC",
    **notice: Any,
) -> None:
    """The move itself, inside the caller's transaction (a customer's cancel
    runs in the engine's message transaction). ``notice`` adds parameters to
    the customer's notification (e.g. a download link)."""
    if action not in MOVES:
        raise IllegalMove(f"unknown action {action!r}")
    sources, target = MOVES[action]
    if record.status not in sources:
        raise IllegalMove(
            f"cannot {action} {record.reference}: it is {record.status.value}"
            + (f" (possible from: {', '.join(s.value for s in sources)})" if sources else "")
        )
    if action == "complete" and record.type.value == "access" and "download_url" not in notice:
        # Access is done when the customer gets their data: the copy comes with it.
        raise IllegalMove(
            f"{record.reference} is an access request: complete it with its data copy "
            f"(--export FILE, or POST /api/v1/requests/{record.reference}/export)",
            "needs_export",
        )
    data: dict[str, Any] = {"from": record.status.value}
    if target is not None:
        await tx.set_request_status(record.reference, target, now)
        data["to"] = target.value
    if reason:
        data["reason"] = reason
    if message:
        data["message"] = message
    if until is not None:
        earliest, latest = due_date_window(now.astimezone(ZoneInfo(timezone)).date())
        if not earliest <= until <= latest:
            raise DateOutOfRange(until, earliest, latest)
        if until <= record.due_date:
            raise IllegalMove(
                f"the new date {until.isoformat()} must be after the current due date "
                f"{record.due_date.isoformat()}",
                "date_not_later",
            )
        await tx.set_due_date(record.reference, until, now)
        data["until"] = until.isoformat()
        data["previous_due_date"] = record.due_date.isoformat()
    await tx.add_request_event(record.reference, actor, action, data, now)
    if action == "ask":
        # The customer's next messages and files go to this request (unless they
        # are in the middle of something else; then after it).
        conversation = await tx.get_conversation_by_id(record.conversation_id)
        moved = await_info(conversation.state, record.reference) if conversation else None
        if conversation is not None and moved is not None:
            conversation.state, conversation.slots = moved
            await tx.save_conversation(conversation)
    kind = NOTICES.get(action)
    if kind is not None:
        updated = await tx.get_request(record.reference)
        assert updated is not None
        await notify(
            tx,
            updated,
            kind,
            now,
            serial=len(record.events),
            **{k: v for k, v in (("reason", reason), ("message", message), ("until", until)) if v},
            **notice,
        )


def _require(action: str, **given: object) -> None:
    needed = {
        "ask": ("message",),
        "reject": ("reason",),
        "delay": ("reason", "until"),
    }.get(action, ())
    missing = [name for name in needed if not given.get(name)]
    if missing:
        raise IllegalMove(f"{action} needs {' and '.join('--' + m for m in missing)}")
    for name, value in given.items():
        if isinstance(value, str) and not value.strip():
            raise IllegalMove(f"--{name} must not be empty")


@dataclass(frozen=True)
class Deadline:
    business_days_left: int
    due_soon: bool
    overdue: bool


DUE_SOON_DAYS = 3


def deadline(record: RequestRecord, today: date) -> Deadline:
    """Business days left until the due date (negative once past it)."""
    left = business_days_between(today, record.due_date)
    open_ = record.status.is_open
    return Deadline(
        business_days_left=left,
        due_soon=open_ and 0 <= left <= DUE_SOON_DAYS,
        overdue=open_ and today > record.due_date,
    )
