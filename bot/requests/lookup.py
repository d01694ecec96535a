"""Privacy requests as staff see them: look-ups and their JSON form.

The staff acts on a request (verify, reject, complete...) are in
``bot.requests.actions``, shared by the command line, the console and the API.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from bot.domain.errors import Refused
from bot.domain.models import RequestRecord
from bot.store import Store
from bot.store.interface.requests import QueueQuery
from flows.types import KnownRequest, RequestStatus, RequestType
from flows.validators import parse_reference


class RequestNotFound(Refused, LookupError):
    """No request has this reference (the API answers 404)."""

    def __init__(self, reference: str) -> None:
        super().__init__("no_request", reference=reference)
        self.reference = reference


class BadReference(Refused, ValueError):
    """Text that is no request reference at all (DEL-7K3M9Q is one)."""

    def __init__(self, reference: str) -> None:
        super().__init__("bad_reference", reference=reference)
        self.reference = reference


def as_known(record: RequestRecord) -> KnownRequest:
    """A request as the dialogue may know it (``flows`` sees no records)."""
    return KnownRequest(record.reference, record.type, record.status.value, record.due_date)


async def find_request(store: Store, reference: str) -> RequestRecord:
    normalised = parse_reference(reference)
    if normalised is None:
        raise BadReference(reference)
    async with store.transaction(readonly=True) as tx:
        found = await tx.get_request(normalised)
    if found is None:
        raise RequestNotFound(normalised)
    return found


async def list_requests(
    store: Store,
    status: RequestStatus | Collection[RequestStatus] | None = None,
    type: RequestType | Collection[RequestType] | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[RequestRecord]:
    """Soonest due first; filtered and paged by the store (see
    ``Transaction.list_requests``), not here."""
    async with store.transaction(readonly=True) as tx:
        return await tx.list_requests(status, type, search, limit, offset)


async def queue_page(store: Store, query: QueueQuery) -> tuple[list[RequestRecord], int]:
    """One page of the staff queue and how many requests match in all
    (``Transaction.queue_page``: the database filters, sorts and pages)."""
    async with store.transaction(readonly=True) as tx:
        return await tx.queue_page(query)


async def answered_asks(store: Store, staff_email: str) -> list[RequestRecord]:
    """Requests whose customer answered (``info_received``) an "ask" that
    this staff member made last, soonest due first: what the agent who
    asked should look at next. The console records a staff member's acts as
    ``staff:<email>`` (the command line as ``staff:<--by>``, the API as
    ``api:<token name>``), so this finds the asks made in the console."""
    async with store.transaction(readonly=True) as tx:
        return await tx.answered_asks(f"staff:{staff_email}")


def request_summary(r: RequestRecord) -> dict[str, Any]:
    return {
        "reference": r.reference,
        "type": r.type.value,
        "status": r.status.value,
        "channel": r.channel.value,
        "customer_address": r.customer_address,
        "full_name": r.full_name,
        "email": r.email,
        "reason": r.reason,
        "language": r.language,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        "due_date": r.due_date.isoformat(),
    }


def request_detail(r: RequestRecord) -> dict[str, Any]:
    data = request_summary(r)
    data["details"] = r.details
    data["attachments"] = [
        {
            "media_type": a.media_type,
            "size": a.size,
            "sha256": a.sha256,
            "received_at": a.created_at.isoformat(),
            "deleted_at": a.deleted_at.isoformat() if a.deleted_at else None,
            "views": [
                {
                    "viewer": v.viewer,
                    "purpose": v.purpose,
                    "at": v.at.isoformat(),
                    "reason": v.reason,
                }
                for v in a.views
            ],
        }
        for a in r.attachments
    ]
    data["events"] = [
        {"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "data": e.data} for e in r.events
    ]
    return data


async def notifications_of(store: Store, reference: str) -> list[dict[str, Any]]:
    """Every notification sent for a request, oldest first, with its delivery
    state (``status`` pending, sent or given_up; ``delivery`` the provider's
    latest report): what the console's request page lists, for the API and
    the command line. Unknown reference: ``RequestNotFound``."""
    record = await find_request(store, reference)
    async with store.transaction(readonly=True) as tx:
        found = await tx.request_notifications(record.reference)
    return [
        {
            "id": n.id,
            "kind": n.kind,
            "channel": n.channel,
            "status": n.status,
            "delivery": n.delivery,
            "attempts": n.attempts,
            "last_error": n.last_error,
            "created_at": n.created_at.isoformat(),
            "sent_at": n.sent_at.isoformat() if n.sent_at else None,
        }
        for n in found
    ]
