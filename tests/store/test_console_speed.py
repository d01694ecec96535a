"""What migration 0017 keeps for the console's speed stays true to the rows:
the folded email, name and reference the queue searches and sorts are kept
by triggers for any writer (the store, the forgetting, a plain connection
with no Python functions), a value beyond ASCII is folded by casefold when
searched, and the audit view's pages are the same lines as one sort of all
its sources would give."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.models import FORGOTTEN_EMAIL_PREFIX, Channel
from bot.store import Store
from bot.store.interface.desk import AUDIT_KINDS
from bot.store.interface.requests import QueueQuery
from bot.store.sql.desk import _AUDIT_PARTS
from bot.store.sqlite import SQLiteStore
from flows.types import RequestStatus, RequestType

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
PEOPLE = [  # reference, name, email
    ("ACC-L0O1I0", "Budi Santoso", "Budi.Santoso@Example.com"),
    ("DEL-7K3M9Q", "Ünal Yılmaz", "ünal@örnek.com.tr"),
    ("COR-ABCDEF", "STRASSE Weiß", "weiss@example.com"),
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with SQLiteStore(tmp_path / "store.db") as opened:
        async with opened.transaction() as tx:
            for n, (reference, name, email) in enumerate(PEOPLE):
                chat = await tx.create_conversation(Channel.TERMINAL, f"c{n}", "menu", "id", T0)
                await tx.insert_request(
                    reference=reference,
                    type=RequestType.ACCESS,
                    status=RequestStatus.VERIFYING,
                    channel=Channel.TERMINAL,
                    customer_address=f"c{n}",
                    conversation_id=chat.id,
                    language="id",
                    full_name=name,
                    email=email,
                    reason=None,
                    details={},
                    now=T0 + timedelta(minutes=n),
                    due_date=date(2026, 12, 24),
                )
        yield opened


def _folded(path: Path) -> dict[str, tuple[str | None, str | None, str]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT reference, email_folded, name_folded, reference_folded FROM requests"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


async def _found(store: Store, typed: str) -> list[str]:
    async with store.transaction(readonly=True) as tx:
        found, total = await tx.queue_page(QueueQuery(search=typed))
    assert total == len(found)
    return [r.reference for r in found]


async def test_the_folded_forms_are_written_with_each_request(
    store: SQLiteStore, tmp_path: Path
) -> None:
    folded = _folded(store.path)
    # ASCII: lower() is casefold; beyond it, left to casefold at search time.
    assert folded["ACC-L0O1I0"] == ("budi.santoso@example.com", "budi santoso", "ACC100110")
    assert folded["DEL-7K3M9Q"] == (None, None, "DE17K3M9Q")
    assert folded["COR-ABCDEF"] == ("weiss@example.com", None, "C0RABCDEF")
    assert await _found(store, "SANTOSO@example") == ["ACC-L0O1I0"]
    assert await _found(store, "ÜNAL@ÖRNEK") == ["DEL-7K3M9Q"]
    assert await _found(store, "yılmaz") == ["DEL-7K3M9Q"]
    assert await _found(store, "strasse weiss") == ["COR-ABCDEF"]  # ß casefolds to ss
    assert await _found(store, "acc-lo0") == ["ACC-L0O1I0"]


async def test_a_forgotten_customer_leaves_no_folded_copy(store: SQLiteStore) -> None:
    async with store.transaction() as tx:
        await tx.forget_customer("ACC-L0O1I0", "d1gest", T0)
    folded = _folded(store.path)["ACC-L0O1I0"]
    assert folded == ((FORGOTTEN_EMAIL_PREFIX + "d1gest").lower(), "", "ACC100110")
    assert await _found(store, "santoso") == []
    with sqlite3.connect(store.path) as db:
        (copies,) = db.execute(
            "SELECT count(*) FROM requests WHERE email_folded LIKE '%santoso%' "
            "OR name_folded LIKE '%santoso%'"
        ).fetchone()
    assert copies == 0


async def test_a_plain_connection_keeps_them_too(store: SQLiteStore) -> None:
    """A bulk load or a repair by hand has no casefold(): the triggers use
    SQLite's own functions only."""
    with sqlite3.connect(store.path) as db:
        db.execute(
            "UPDATE requests SET full_name = 'Siti Aminah', email = 'Siti@Example.com', "
            "reference = 'RES-QQQQQQ' WHERE reference = 'COR-ABCDEF'"
        )
    assert _folded(store.path)["RES-QQQQQQ"] == ("siti@example.com", "siti aminah", "RESQQQQQQ")
    assert await _found(store, "aminah") == ["RES-QQQQQQ"]
    assert await _found(store, "weiss") == []


async def test_sorting_by_name_and_email_folds_as_casefold(store: Store) -> None:
    async with store.transaction(readonly=True) as tx:
        by_name, _ = await tx.queue_page(QueueQuery(sort="name"))
        by_email, _ = await tx.queue_page(QueueQuery(sort="email", descending=True))
    assert [r.full_name for r in by_name] == sorted(
        (p[1] for p in PEOPLE), key=lambda name: name.casefold()
    )
    assert [r.email for r in by_email] == sorted(
        (p[2] for p in PEOPLE), key=lambda email: email.casefold(), reverse=True
    )


async def test_a_search_past_the_last_page_still_counts(store: Store) -> None:
    async with store.transaction(readonly=True) as tx:
        found, total = await tx.queue_page(QueueQuery(search="example", offset=50))
    assert (found, total) == ([], 2)


async def test_audit_pages_are_the_newest_lines_of_all_sources(store: SQLiteStore) -> None:
    """Each source's newest lines up to the page's end, then sorted: the same
    lines, page by page and filter by filter, as sorting everything."""
    async with store.transaction() as tx:
        for n in range(30):
            at = T0 + timedelta(seconds=n * 7 % 31)  # interleaved, some at one moment
            await tx.add_access_log(("login", "login_failed", "export")[n % 3], None, "", "", at)
            await tx.add_access_log("login", f"s{n}@jovapos.test", "", "10.0.0.1", at)
    with sqlite3.connect(store.path) as db:
        all_sources = " UNION ALL ".join(_AUDIT_PARTS)
        for kinds in (AUDIT_KINDS, ("login",), ("export", "login_failed")):
            marks = ",".join("?" * len(kinds))
            everything = db.execute(
                f"SELECT kind, actor, at FROM ({all_sources}) WHERE kind IN ({marks}) "
                "ORDER BY at DESC, seq DESC",
                kinds,
            ).fetchall()
            for offset in (0, 7, 14, 56):
                async with store.transaction(readonly=True) as tx:
                    lines = await tx.audit_lines(kinds, 7, offset)
                shown = [(ln.kind, ln.actor, ln.at) for ln in lines]
                expected = [
                    (k, a, datetime.fromisoformat(at)) for k, a, at in everything[offset:][:7]
                ]
                assert shown == expected
