"""Forgetting and retention: erasing a deleted customer, dropping old
compliance records, and finding files that are due to go.
"""

from __future__ import annotations

import abc
from datetime import datetime


class Forgetting(abc.ABC):
    """The forgetting part of a ``Transaction`` (``bot.store.base``)."""

    @abc.abstractmethod
    async def drop_compliance_records(self, before: datetime) -> int:
        """Remove forgotten customers' compliance records completed before ``before``."""

    @abc.abstractmethod
    async def deletions_to_forget(self) -> list[str]:
        """References of completed deletion requests whose customer is not yet forgotten."""

    @abc.abstractmethod
    async def forget_customer(self, reference: str, email_digest: str, now: datetime) -> list[str]:
        """After a completed deletion: erase what identifies the customer (all
        their conversations, messages, codes, files, names and addresses),
        keeping reference, type, dates, status history and a keyed hash of the
        email. Returns the tokens of the files to delete after the commit."""

    @abc.abstractmethod
    async def live_attachment_tokens(self) -> set[str]:
        """Tokens of stored files a record still refers to (ID proofs, data copies)."""

    @abc.abstractmethod
    async def expired_downloads(self, now: datetime) -> list[str]:
        """Remove download links past their date; returns their files' tokens."""

    @abc.abstractmethod
    async def id_proofs_due(self, cutoff: datetime) -> list[tuple[str, str]]:
        """(token, reference) of stored ID proofs whose retention started at or
        before ``cutoff``."""
