"""Staff acts on a request, one function each, for every door.

The command line, the console and the API call these and nothing below them,
so an act means the same everywhere: the same checks of what staff gave (an
empty reason, a date that is no date or out of range), the same "today" (in
the service's time zone, from ``services.settings``), the same event and the
same notice to the customer. A refusal is a ``Refused`` naming its catalogue
key; each door words it for its own reader.

Each function takes what the door received as it is (text, possibly blank or
missing) and returns the request as it is afterwards with the status it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.models import RequestRecord
from bot.requests.exports import ExportFile, complete_access
from bot.requests.lifecycle import (
    DateOutOfRange,
    IllegalMove,
    apply_move,
    due_date_window,
    parse_due_date,
)
from bot.requests.lookup import BadReference, RequestNotFound, find_request
from bot.requests.retention import forget_customer
from bot.services import Services
from flows.types import RequestStatus, RequestType
from flows.validators import parse_reference


@dataclass(frozen=True)
class ActionResult:
    request: RequestRecord
    previous: RequestStatus


def today(services: Services) -> date:
    """The date where the service is: a request delayed "to today" at 03:00 in
    Jakarta is delayed to Jakarta's today, not to UTC's yesterday."""
    return services.clock().astimezone(ZoneInfo(services.settings.timezone)).date()


def delay_window(services: Services) -> tuple[date, date]:
    """The first and last day ``delay`` accepts now (the console's date picker
    offers the same)."""
    return due_date_window(today(services))


async def verify(
    services: Services, reference: str, actor: str, *, reason: str | None = None
) -> ActionResult:
    """The customer's identity is accepted: the request is in progress."""
    return await _act(services, reference, "verify", actor, reason=_optional(reason))


async def ask(services: Services, reference: str, actor: str, message: str | None) -> ActionResult:
    """Ask the customer for more: their next messages go to this request."""
    message = _given(message)
    if not message:
        raise IllegalMove("message_missing")
    return await _act(services, reference, "ask", actor, message=message)


async def reject(
    services: Services, reference: str, actor: str, reason: str | None
) -> ActionResult:
    """Reject the request; the customer is told the reason."""
    reason = _given(reason)
    if not reason:
        raise IllegalMove("reason_missing")
    return await _act(services, reference, "reject", actor, reason=reason)


async def delay(
    services: Services,
    reference: str,
    actor: str,
    reason: str | None,
    until: date | str | None,
) -> ActionResult:
    """Move the due date to ``until`` (a date, or YYYY-MM-DD as typed): after
    the current one, from today to at most two years ahead."""
    reason = _given(reason)
    if not reason:
        raise IllegalMove("reason_missing")
    if isinstance(until, str):
        until = parse_due_date(until.strip()) if until.strip() else None
    if until is None:
        raise IllegalMove("until_missing")
    earliest, latest = delay_window(services)
    if not earliest <= until <= latest:
        raise DateOutOfRange(until, earliest, latest)
    return await _act(services, reference, "delay", actor, reason=reason, until=until)


async def cancel(
    services: Services, reference: str, actor: str, *, reason: str | None = None
) -> ActionResult:
    """Cancel the request on the customer's behalf (staff side)."""
    return await _act(services, reference, "cancel", actor, reason=_optional(reason))


async def complete(
    services: Services,
    reference: str,
    actor: str,
    *,
    files: list[ExportFile] | None = None,
    reason: str | None = None,
) -> ActionResult:
    """The request is done. An access request is done with its data copy:
    ``files`` are the back office's part of it, packed with what the bot holds
    and handed over by link (``bot.requests.exports``); it cannot complete
    without. A deletion also forgets the customer, at once after the move's
    commit: their name, email, transcript and ID proof must not wait for the
    hourly housekeeping (which only finishes what a crash interrupted)."""
    if files:
        await complete_access(services, reference, actor, files)
        record = await find_request(services.store, reference)
        # Completion starts only from in_progress (``MOVES``).
        result = ActionResult(record, RequestStatus.IN_PROGRESS)
    else:
        result = await _act(services, reference, "complete", actor, reason=_optional(reason))
    record = result.request
    if record.type is RequestType.DELETION:
        await forget_customer(services, record.reference)
        record = await find_request(services.store, record.reference)
    return ActionResult(record, result.previous)


async def _act(
    services: Services, reference: str, action: str, actor: str, **given: Any
) -> ActionResult:
    """One move in its own transaction."""
    normalised = parse_reference(reference)
    if normalised is None:
        raise BadReference(reference)
    async with services.store.transaction() as tx:
        record = await tx.get_request(normalised)
        if record is None:
            raise RequestNotFound(normalised)
        await apply_move(tx, record, action, actor, services.clock(), **given)
        updated = await tx.get_request(normalised)
    assert updated is not None
    return ActionResult(request=updated, previous=record.status)


def _given(text: str | None) -> str:
    """Text as staff typed it, stripped: "" when blank or not given at all."""
    return (text or "").strip()


def _optional(text: str | None) -> str | None:
    """Text staff may give: blank is the same as none."""
    return _given(text) or None
