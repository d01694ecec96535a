"""What staff (and customers) may do to a request, and nothing else.

``apply_move`` is every move's rule, inside a transaction: it checks the move
is legal from the request's current status, changes it, records who did it,
when and why as an event, and queues the customer's notice. Staff reach it
through ``bot.requests.actions`` (one function per act, for every door), a
customer's cancel through the conversation engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.domain.business_days import business_days_between
from bot.domain.errors import Refused
from bot.domain.models import RequestRecord
from bot.requests.notify import notify
from bot.store import Transaction
from flows.dialogue import await_info
from flows.types import INFO_WANTED, OPEN_STATUSES, RequestStatus

S = RequestStatus

# action -> (statuses it may start from, status it leads to; None keeps the status)
MOVES: dict[str, tuple[tuple[RequestStatus, ...], RequestStatus | None]] = {
    "verify": ((S.VERIFYING, S.NEEDS_INFO, S.INFO_RECEIVED), S.IN_PROGRESS),
    "ask": ((S.AWAITING_ID_PROOF, S.VERIFYING, S.IN_PROGRESS, S.INFO_RECEIVED), S.NEEDS_INFO),
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


class IllegalMove(Refused, ValueError):
    """The act is not possible: not from the request's current status
    (``not_possible``), or not without what it needs (``reason_missing``,
    ``needs_export``...)."""


MAX_YEARS_AHEAD = 2


class DateOutOfRange(IllegalMove):
    """A new due date in the past or more than two years ahead. Nothing
    legitimate needs a later one, and an unbounded date (9999-12-31) is a date
    every listing and notice must then carry. ``earliest`` and ``latest`` let
    each door word the limits in its own language."""

    def __init__(self, until: date, earliest: date, latest: date) -> None:
        super().__init__(
            "until_range",
            until=until.isoformat(),
            earliest=earliest.isoformat(),
            latest=latest.isoformat(),
            years=MAX_YEARS_AHEAD,
        )
        self.until, self.earliest, self.latest = until, earliest, latest


class BadDate(Refused, ValueError):
    """A new due date that is no date at all: not YYYY-MM-DD, or a day the
    calendar does not have (2027-02-30, year 10000)."""

    def __init__(self, raw: str) -> None:
        super().__init__("bad_date", value=raw[:40])  # it is typed input: echo a little


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
    **notice: Any,
) -> None:
    """The move itself, inside the caller's transaction (a staff act in
    ``bot.requests.actions``; a customer's cancel runs in the engine's message
    transaction). A new date ``until`` must already lie within
    ``due_date_window`` of today where the service is (``actions.delay``
    checks it, knowing the service's time zone). ``notice`` adds parameters to
    the customer's notification (e.g. a download link)."""
    if action not in MOVES:
        raise ValueError(f"unknown action {action!r}")  # a bug: the doors offer only MOVES
    sources, target = MOVES[action]
    if record.status not in sources:
        raise IllegalMove(
            "not_possible",
            action=action,
            reference=record.reference,
            status=record.status.value,
            allowed=", ".join(s.value for s in sources),
        )
    if action == "complete" and record.type.value == "access" and "download_url" not in notice:
        # Access is done when the customer gets their data: the copy comes with it.
        raise IllegalMove("needs_export", reference=record.reference)
    data: dict[str, Any] = {"from": record.status.value}
    if target is not None:
        await tx.set_request_status(record.reference, target, now)
        data["to"] = target.value
    if reason:
        data["reason"] = reason
    if message:
        data["message"] = message
    if until is not None:
        if until <= record.due_date:
            raise IllegalMove(
                "date_not_later", until=until.isoformat(), due_date=record.due_date.isoformat()
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


async def record_answer(
    tx: Transaction, record: RequestRecord, now: datetime, *, text: str, file: bool
) -> None:
    """The customer answered staff's "ask" (words, or a file already linked to
    the request), inside the message's transaction. The first answer moves
    the request from ``needs_info`` to ``info_received``, so staff see it
    answered; one more before staff act again stays ``info_received`` and is
    recorded all the same. Not a staff act: no door offers it (not in
    ``MOVES``), and the customer is answered in the chat, not by a notice.
    A request no longer waiting (the dialogue checks) gets nothing."""
    if record.status not in INFO_WANTED:
        return
    data: dict[str, Any] = {"from": record.status.value}
    if record.status is S.NEEDS_INFO:
        await tx.set_request_status(record.reference, S.INFO_RECEIVED, now)
        data["to"] = S.INFO_RECEIVED.value
    data.update({"text": text} if text else {"file": file})
    await tx.add_request_event(record.reference, "customer", "info_provided", data, now)


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
