"""The queue as CSV, without a server: no cell a spreadsheet would run as a
formula, UTF-8 with a byte-order mark for Excel, headers and stored codes in
the reader's language, dates and times ISO 8601."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.models import Channel, RequestRecord
from bot.infra.catalogue import Catalogue
from bot.web.console.dashboard import CSV_COLUMNS, queue_csv, safe_cell
from bot.web.console.words import Words
from flows.types import RequestStatus, RequestType

pytestmark = pytest.mark.fast

JAKARTA = ZoneInfo("Asia/Jakarta")


@pytest.mark.parametrize(
    "typed", ["=1+1", "+62 812", "-2", "@SUM(A1)", "\tx", "\rx", "=cmd|' /C calc'!A0"]
)
def test_a_cell_that_would_run_as_a_formula_is_text(typed: str) -> None:
    assert safe_cell(typed) == "'" + typed


def test_other_cells_are_left_as_they_are() -> None:
    for value in ("Siti Aminah", "a=b", "x\t-y", "", "ÿ€漢", -3, 0):
        assert safe_cell(value) == value


def _record(name: str, email: str, status: RequestStatus) -> RequestRecord:
    filed = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)  # 00:30 on the 26th in Jakarta
    return RequestRecord(
        id=1,
        reference="COR-7K3M9Q",
        type=RequestType.CORRECTION,
        status=status,
        channel=Channel.WHATSAPP,
        customer_address="+628",
        conversation_id=1,
        language="id",
        full_name=name,
        email=email,
        reason=None,
        details={},
        created_at=filed,
        updated_at=filed,
        due_date=date(2026, 12, 1),
    )


@pytest.mark.parametrize(
    ("lang", "header", "status", "kind"),
    [
        ("id", "Referensi", "sedang diproses", "Koreksi data"),
        ("en", "Reference", "in progress", "Correction"),
    ],
)
def test_the_file_is_for_excel_in_the_readers_language(
    catalogue: Catalogue, lang: str, header: str, status: str, kind: str
) -> None:
    words = Words(catalogue, JAKARTA, lang)
    records = [
        _record('=HYPERLINK("http://x")', "@evil@example.com", RequestStatus.IN_PROGRESS),
        _record("Ayu Ñandú 漢字", "ayu@example.com", RequestStatus.COMPLETED),
    ]
    body = queue_csv(records, words, date(2026, 11, 26))
    assert body.startswith("\ufeff".encode())  # the BOM: Excel reads UTF-8
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert len(table[0]) == len(CSV_COLUMNS) and table[0][0] == header
    first, second = table[1], table[2]
    assert first[4] == '\'=HYPERLINK("http://x")' and first[5] == "'@evil@example.com"
    assert (first[1], first[2]) == (kind, status)
    assert first[6] == "2026-11-26T00:30:00+07:00" and first[7] == "2026-12-01"
    assert first[8] == "3"  # business days left: Fri 27, Mon 30, Tue 1
    assert second[4] == "Ayu Ñandú 漢字" and second[8] == ""  # closed: no days left
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)
