"""Proving who someone is: the imported account directory, emailed codes
(and how many went to one address), and download links with their codes.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from bot.domain.models import CodeRecord, DownloadRecord


class Codes(abc.ABC):
    """The identity part of a ``Transaction`` (``bot.store.base``)."""

    @abc.abstractmethod
    async def find_account(self, email: str) -> tuple[str, str] | None:
        """(email, full_name) of a locally imported account."""

    @abc.abstractmethod
    async def count_accounts(self) -> int: ...

    @abc.abstractmethod
    async def import_accounts(
        self, rows: Sequence[tuple[str, str, str | None]], now: datetime
    ) -> int:
        """Add or update (email, full_name, phone) rows; returns how many."""

    @abc.abstractmethod
    async def get_code(self, conversation_id: int) -> CodeRecord | None: ...

    @abc.abstractmethod
    async def save_code(self, code: CodeRecord) -> None: ...

    @abc.abstractmethod
    async def code_mails_since(self, email_digest: str, since: datetime) -> int: ...

    @abc.abstractmethod
    async def take_code_mail(self, email_digest: str, now: datetime, per_hour: int) -> bool:
        """Count one code mail for ``email_digest`` if fewer than ``per_hour``
        went out in the last hour; whether it may go."""

    @abc.abstractmethod
    async def drop_code_mails(self, before: datetime) -> None: ...

    @abc.abstractmethod
    async def create_download(
        self,
        token_hash: str,
        reference: str,
        blob_token: str,
        size: int,
        sha256: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    @abc.abstractmethod
    async def get_download(self, token_hash: str, now: datetime) -> DownloadRecord | None:
        """The unexpired download with its request's reference, email and language."""

    @abc.abstractmethod
    async def set_download_code(
        self,
        token_hash: str,
        digest: str | None,
        expires: datetime | None,
        attempts: int,
        sent_at: datetime | None,
    ) -> None:
        """The download page's current code (``digest`` None: no usable code)."""
