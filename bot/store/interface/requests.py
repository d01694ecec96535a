"""Privacy requests: filing, status and due date, their event history,
ID-proof files and the staff views of those files.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.domain.models import Channel, RequestRecord
from bot.store.interface.conversations import InboundRef
from flows.types import RequestStatus, RequestType

# How the console's queue may be sorted; the first is the default. ``days``
# (business days left) orders as ``due`` does.
QUEUE_SORTS = ("due", "days", "filed", "name", "email", "channel", "reference", "type", "status")


@dataclass(frozen=True)
class QueueQuery:
    """One page of the staff queue, as the database picks it out.

    ``statuses``, ``types``: any of these (None: any). ``search``: what staff
    typed: part of a reference (any case, with or without its dash, O for 0
    and I or L for 1), or part of the email or the name (casefolded as Python
    does it, beyond ASCII). ``sort``: one of ``QUEUE_SORTS``, ties broken by
    due date, then filing order."""

    statuses: Collection[RequestStatus] | None = None
    types: Collection[RequestType] | None = None
    search: str = ""
    sort: str = "due"
    descending: bool = False
    limit: int | None = 50  # None: every match (the CSV export)
    offset: int = 0


class Requests(abc.ABC):
    """The request part of a ``Transaction`` (``bot.store.base``)."""

    @abc.abstractmethod
    async def open_requests_for_email(self, email: str) -> list[RequestRecord]:
        """Open requests filed with this email (any case), from any address."""

    @abc.abstractmethod
    async def requests_for_address(self, channel: Channel, address: str) -> list[RequestRecord]: ...

    @abc.abstractmethod
    async def latest_request_email(self, channel: Channel, address: str) -> str | None:
        """The email of the latest request filed from this address that still
        has one (a forgotten customer's requests keep only a digest of it)."""

    @abc.abstractmethod
    async def insert_request(
        self,
        *,
        reference: str,
        type: RequestType,
        status: RequestStatus,
        channel: Channel,
        customer_address: str,
        conversation_id: int,
        language: str,
        full_name: str,
        email: str,
        reason: str | None,
        details: dict[str, Any],
        now: datetime,
        due_date: date,
    ) -> int:
        """Raises DuplicateReference when the reference is taken."""

    @abc.abstractmethod
    async def set_due_date(self, reference: str, due: date, now: datetime) -> None: ...

    @abc.abstractmethod
    async def set_request_status(
        self, reference: str, status: RequestStatus, now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def add_request_event(
        self, reference: str, actor: str, kind: str, data: dict[str, Any], now: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def flag_request(self, reference: str) -> None: ...

    @abc.abstractmethod
    async def insert_attachment(
        self,
        *,
        token: str,
        conversation_id: int,
        inbound_id: InboundRef | None,
        media_type: str,
        size: int,
        sha256: str,
        now: datetime,
    ) -> None: ...

    @abc.abstractmethod
    async def link_attachment(self, token: str, reference: str) -> None: ...

    @abc.abstractmethod
    async def mark_attachments_deleted(self, tokens: Sequence[str], now: datetime) -> None: ...

    @abc.abstractmethod
    async def record_attachment_view(
        self,
        token: str,
        viewer: str,
        purpose: str,
        now: datetime,
        reason: str = "",
        address: str | None = None,
    ) -> None:
        """Who looked at a file, through what (``purpose``: console, cli), why
        and from where (the browser's address; None from the command line)."""

    @abc.abstractmethod
    async def get_request(self, reference: str) -> RequestRecord | None:
        """The request with its events and attachments."""

    @abc.abstractmethod
    async def list_requests(
        self,
        status: RequestStatus | Collection[RequestStatus] | None = None,
        type: RequestType | Collection[RequestType] | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        *,
        email: str | None = None,
    ) -> list[RequestRecord]:
        """Requests soonest due first (then in filing order), filtered and paged
        by the database rather than by loading them all. ``status``, ``type``:
        one, or any of several (None: any; an empty collection: none).
        ``search``: part of the reference, or the whole email, in any case.
        ``email``: only those filed with this whole email, in any case (a
        customer's data copy). ``limit`` and ``offset``: one page of that order."""

    @abc.abstractmethod
    async def queue_page(self, query: QueueQuery) -> tuple[list[RequestRecord], int]:
        """One page of requests as ``query`` asks, and how many match in all:
        filtered, sorted and paged by the database, never by loading them all."""

    @abc.abstractmethod
    async def answered_asks(self, asker: str) -> list[RequestRecord]:
        """Requests in ``info_received`` whose latest "ask" was made by
        ``asker`` (an actor, e.g. ``staff:ani@jovapos.co.id``; any case),
        soonest due first: the answers that staff member is waiting for."""
