"""Completing a request: the one operation the command line, the console and
the API call, so that completing means the same everywhere.

Completion is the move to ``completed`` with its notification (for an access
request, together with its data copy and download link, see ``bot.requests.exports``).
For a deletion it also means forgetting the customer, at once after the
move's commit: their name, email, transcript and ID proof must not wait for
the hourly housekeeping (which only finishes what a crash interrupted).
"""

from __future__ import annotations

from bot.domain.models import RequestRecord
from bot.requests.exports import ExportFile, complete_access
from bot.requests.lifecycle import IllegalMove, act
from bot.requests.lookup import find_request
from bot.requests.retention import forget_customer
from bot.services import Services
from flows.types import RequestStatus, RequestType


async def complete_request(
    services: Services,
    reference: str,
    actor: str,
    *,
    files: list[ExportFile] | None = None,
    reason: str | None = None,
) -> RequestRecord:
    """Complete ``reference``; returns the request as it is afterwards (for a
    deletion: already forgotten). ``files`` are the back office's part of an
    access request's data copy; an access request cannot complete without."""
    if files:
        await complete_access(services, reference, actor, files)
        record = await find_request(services.store, reference)
    else:
        result = await act(
            services.store, services.clock, reference, "complete", actor, reason=reason
        )
        record = result.request
    if record.status is not RequestStatus.COMPLETED:  # pragma: no cover - act guarantees it
        raise IllegalMove(f"{record.reference} did not complete")
    if record.type is RequestType.DELETION:
        await forget_customer(services, record.reference)
        record = await find_request(services.store, record.reference)
    return record
