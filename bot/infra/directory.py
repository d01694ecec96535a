"""Is this email a JOVA POS account? One question, three ways to answer it.

- The POS back office over HTTP (``PRIVACYBOT_ACCOUNTS_URL``): 200 means
  registered, 404 not; anything else is an outage, and then no code is sent
  (failing closed: we would rather ask the customer to try again than send a
  code for an account we could not confirm).
- The local table filled by ``privacybot accounts import FILE.csv``.
- Neither configured: every email counts as registered (development), which
  the server says once at start.
"""

from __future__ import annotations

import abc
import csv
import io
import logging
import unicodedata
from dataclasses import dataclass

import httpx

from bot.settings import Settings
from bot.store import Store
from flows.validators import validate_email_address

log = logging.getLogger(__name__)


class DirectoryUnavailable(Exception):
    """The directory could not answer now."""


@dataclass(frozen=True)
class Account:
    email: str
    full_name: str | None


class AccountDirectory(abc.ABC):
    name: str

    @abc.abstractmethod
    async def lookup(self, email: str, store: Store) -> Account | None:
        """The account with this email, None when there is none. Called outside
        any transaction (an HTTP directory may take seconds; the local table
        opens a short one). Raises DirectoryUnavailable when the answer is
        unknown."""

    async def close(self) -> None:  # noqa: B027 - only the HTTP one holds connections
        pass


class LocalDirectory(AccountDirectory):
    """The imported table; while it is empty, every email counts (development).
    Checked on each look-up, so an import takes effect without a restart."""

    name = "local table"

    async def lookup(self, email: str, store: Store) -> Account | None:
        async with store.transaction(readonly=True) as tx:
            if not await tx.count_accounts():
                return Account(email, None)
            found = await tx.find_account(email.casefold())
        return Account(found[0], found[1]) if found else None


class HttpDirectory(AccountDirectory):
    name = "POS back office (HTTP)"

    def __init__(self, url: str, token: str, timeout: float = 5.0) -> None:
        self.url = url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(timeout=timeout, headers=headers)

    async def lookup(self, email: str, store: Store) -> Account | None:
        try:
            response = await self.client.get(self.url, params={"email": email})
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable(type(exc).__name__) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise DirectoryUnavailable(f"HTTP {response.status_code}")
        name = None
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("full_name"), str):
                name = body["full_name"]
        except ValueError:
            pass  # 200 without a JSON body still means registered
        return Account(email, name)

    async def close(self) -> None:
        await self.client.aclose()


def open_directory(settings: Settings) -> AccountDirectory:
    if settings.accounts_url:
        return HttpDirectory(settings.accounts_url, settings.accounts_token)
    return LocalDirectory()


async def everyone_counts(directory: AccountDirectory, store: Store) -> bool:
    """Whether, right now, every email counts as registered (no directory yet)."""
    if not isinstance(directory, LocalDirectory):
        return False
    async with store.transaction(readonly=True) as tx:
        return await tx.count_accounts() == 0


def same_name(given: str, registered: str) -> bool:
    """Names compared ignoring case, spacing and accents ("Nguyễn  VAN an" is
    "Nguyen Van An")."""
    return _name_key(given) == _name_key(registered)


def _name_key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(letters.replace(".", " ").split())


class ImportProblem(ValueError):
    pass


def parse_accounts_csv(text: str) -> list[tuple[str, str, str | None]]:
    """Rows (email, full_name, phone) of an accounts CSV with a header line
    naming at least ``email`` and ``full_name``. Problems name their line."""
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    missing = {"email", "full_name"} - fields
    if missing:
        raise ImportProblem(f"missing column(s): {', '.join(sorted(missing))}")
    rows = []
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        email, _ = validate_email_address(row.get("email", ""))
        if email is None:
            raise ImportProblem(f"line {number}: not a valid email address")
        name = row.get("full_name", "")
        if not name:
            raise ImportProblem(f"line {number}: full_name is empty")
        rows.append((email.casefold(), name, row.get("phone") or None))
    return rows
