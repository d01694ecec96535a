"""A busy desk for ``bench_console.py``, written straight into the database:
requests of every type and status (names, non-ASCII ones too, emails,
events, ID-proof records and their views), the conversations they came from
with their transcripts, chats handed to staff (waiting, held, closed), staff
accounts and their history. One transaction of ``executemany`` inserts with
the columns named, so a migration that adds a column with a default does
not break it; the rows copy what the dialogue and the console store.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

FIRST = [
    "Budi", "Siti", "Agus", "Dewi", "Rina", "Andi", "Sekar", "Wayan", "Putu", "Nyoman",
    "Ayu", "Joko", "Sri", "Rudi", "Yuni", "Tari", "Fajar", "Indah", "Made", "Hendra",
    "Nur'aini", "Ni Luh", "Ketut", "Bambang", "Lestari", "Wulan", "Dimas", "Citra",
]  # fmt: skip
LAST = [
    "Santoso", "Aminah", "Wijaya", "Lestari", "Saputra", "Hidayat", "Kusuma", "Pratama",
    "Nugroho", "Siregar", "Simanjuntak", "Harahap", "Tanjung", "Wibowo", "Gunawan",
    "Setiawan", "Putri", "Rahmawati", "Sihombing", "Halim",
]  # fmt: skip
# Customers whose names are not ASCII: accents, other scripts, long ones.
OTHER_NAMES = [
    "Nguyễn Thị Hoa", "José Ramírez", "Zoë Ångström", "李小龙", "Agnès Müller",
    "Ṣaleh Bā'alawī", "Χρήστος Παπαδόπουλος", "Đặng Văn Lâm", "Søren Kjærgaard",
    "Björn Þórsson", "محمد عبد الله", "Kim Min-jun 김민준", "Çağla Öztürk",
    "Raden Mas Soeryo Adiwinoto Hadikusumo Tjokroaminoto",
]  # fmt: skip
DOMAINS = ["gmail.com", "yahoo.co.id", "tokoku.id", "example.com", "warung.co.id"]
TYPES = {"deletion": "DEL", "access": "ACC", "correction": "COR", "restriction": "RES"}
STATUSES = {  # share of the desk
    "awaiting_id_proof": 10, "verifying": 15, "needs_info": 8, "in_progress": 17,
    "completed": 35, "rejected": 7, "cancelled": 8,
}  # fmt: skip
CLOSED = {"completed", "rejected", "cancelled"}
CHANNELS = ["whatsapp", "whatsapp", "whatsapp", "sms", "telegram", "terminal"]
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
STAFF = [f"{n.lower()}@jovapos.co.id" for n in ("Ani", "Bayu", "Citra", "Dodi", "Eka", "Fitri")]
CUSTOMER_LINES = [
    "halo", "Saya mau hapus akun", "2", "Ya", "Kapan selesai?", "Sudah saya kirim fotonya",
    "Kenapa lama sekali?", "staf", "Terima kasih", "Ini email saya yang lama",
    "Apakah data transaksi saya ikut terhapus? Saya masih butuh laporan bulan lalu.",
]  # fmt: skip
BOT_LINES = [
    ("menu", "Halo! Ini layanan privasi JOVA POS. Ketik angka pilihan Anda:"),
    ("prompt.full_name", "Siapa nama lengkap Anda sesuai akun JOVA POS?"),
    ("prompt.email", "Apa alamat email yang terdaftar di akun JOVA POS Anda?"),
    ("prompt.id_proof", "Untuk memastikan permintaan ini benar dari Anda, kirim foto KTP."),
    ("staff.waiting", "Baik, permintaan Anda sudah kami teruskan ke staf."),
]
STAFF_LINES = [
    "Halo Kak, saya bantu cek dulu ya.",
    "Mohon kirim ulang foto KTP yang lebih jelas.",
    "Permintaan Anda sudah kami proses, terima kasih sudah menunggu.",
]


@dataclass
class Desk:
    """What the benchmark asks for: a request of each type (and a long
    history), a chat in each state, and what to search the queue for."""

    references: dict[str, str]
    chats: dict[str, str]
    searches: tuple[str, str]
    proofs: list[str]  # tokens of the ID proofs of those requests: their files to write


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _email(name: str, n: int, pick: random.Random) -> str:
    local = "".join(c for c in name.lower().replace(" ", ".") if c.isalnum() or c == ".")
    if not local.isascii() and pick.random() < 0.5:
        local = f"pelanggan{n}"
    return f"{local}{n}@{pick.choice(DOMAINS)}"


class _Rows:
    """The rows to insert, table by table, with their ids given here."""

    def __init__(self) -> None:
        self.tables: dict[str, list[tuple[Any, ...]]] = {}
        self.ids: dict[str, int] = {}

    def add(self, table: str, *values: Any) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        self.tables.setdefault(table, []).append((self.ids[table], *values))
        return self.ids[table]


COLUMNS = {
    "conversations": "channel, address, state, slots, language, failures, waiting_staff_since, "
    "created_at, updated_at, last_activity_at, claimed_by",
    "inbound_messages": "conversation_id, channel, external_id, text, truncated, "
    "attachment_count, state_before, state_after, received_at",
    "outbound_messages": "conversation_id, inbound_id, position, message_key, language, text, "
    "created_at, buttons, sent_at, provider_id, delivery_status, author",
    "requests": "reference, type, status, channel, customer_address, conversation_id, language, "
    "full_name, email, reason, details, created_at, updated_at, due_date, retention_from, "
    "needs_attention",
    "request_events": "request_id, at, actor, kind, data",
    "attachments": "token, conversation_id, request_id, inbound_id, media_type, size, sha256, "
    "created_at, deleted_at",
    "attachment_views": "attachment_id, viewer, purpose, viewed_at",
    "staff": "email, role, password_hash, created_at, failed_logins, disabled_at",
    "staff_audit": "actor, action, subject, created_at",
    "staff_notes": "conversation_id, author, text, created_at",
    "chat_events": "conversation_id, actor, kind, detail, created_at",
    "escalations": "conversation_id, reason, created_at, announced_at",
}


def _transcript(
    rows: _Rows, conversation: int, channel: str, lang: str, start: datetime, turns: int, pick: Any
) -> datetime:
    """``turns`` exchanges: the customer, then one or two answers of the bot."""
    at = start
    for _ in range(turns):
        at += timedelta(seconds=pick.randint(5, 300))
        text = pick.choice(CUSTOMER_LINES)
        external = f"bench-{rows.ids.get('inbound_messages', 0)}"
        inbound = rows.add(
            "inbound_messages", conversation, channel, external, text, 0, 0, "menu", "menu",
            _iso(at),
        )  # fmt: skip
        for position in range(pick.randint(1, 2)):
            key, said = pick.choice(BOT_LINES)
            rows.add(
                "outbound_messages", conversation, inbound, position, key, lang, said, _iso(at),
                "[]", _iso(at), None, "delivered" if channel != "terminal" else None, None,
            )  # fmt: skip
    return at


def _request_history(
    rows: _Rows, request: int, status: str, created: datetime, due: datetime, pick: Any
) -> None:
    staff = f"staff:{pick.choice(STAFF)}"
    at = created + timedelta(hours=pick.randint(1, 72))
    first = "awaiting_id_proof" if status == "awaiting_id_proof" else "verifying"
    rows.add(
        "request_events", request, _iso(created), "customer", "filed",
        json.dumps({"status": first, "email_verified": True}),
    )  # fmt: skip
    steps: list[tuple[str, dict[str, Any]]] = {
        "needs_info": [("ask", {"from": "verifying", "to": "needs_info", "message": "Foto buram"})],
        "in_progress": [("verify", {"from": "verifying", "to": "in_progress"})],
        "completed": [
            ("verify", {"from": "verifying", "to": "in_progress"}),
            ("complete", {"from": "in_progress", "to": "completed"}),
        ],
        "rejected": [("reject", {"from": first, "to": "rejected", "reason": "Bukan pelanggan"})],
        "cancelled": [("cancel", {"from": first, "to": "cancelled"})],
    }.get(status, [])
    if status == "in_progress" and pick.random() < 0.2:
        later = (due + timedelta(days=30)).date().isoformat()
        steps.append(
            ("delay", {"from": "in_progress", "reason": "Arsip", "until": later,
                       "previous_due_date": due.date().isoformat()})
        )  # fmt: skip
    if status == "needs_info" and pick.random() < 0.5:
        steps.append(("info_provided", {"text": "Ini foto yang lebih jelas"}))
    for kind, data in steps:
        at += timedelta(hours=pick.randint(1, 48))
        actor = "customer" if kind == "info_provided" else staff
        rows.add("request_events", request, _iso(at), actor, kind, json.dumps(data))


def seed(path: Path, requests: int, chats: int, pick: random.Random) -> Desk:
    now = datetime.now(UTC)
    rows = _Rows()
    password = PasswordHasher().hash("kata-sandi-yang-panjang")
    for n, email in enumerate(STAFF):
        role = "admin" if n == 0 else "agent"
        rows.add("staff", email, role, password, _iso(now - timedelta(days=400)), 0, None)
        rows.add("staff_audit", "cli", f"add:{role}", email, _iso(now - timedelta(days=400)))
    for n in range(200):
        rows.add(
            "staff_audit", STAFF[0], pick.choice(["make_admin", "make_agent", "reset_password"]),
            pick.choice(STAFF[1:]), _iso(now - timedelta(days=200 - n)),
        )  # fmt: skip
    customers = max(1, int(requests * 0.9))  # some customers file twice
    conversations: list[tuple[int, str, str, str, datetime]] = []
    for n in range(max(customers, chats)):
        channel = pick.choice(CHANNELS)
        address = {
            "whatsapp": f"+62812{n:07d}", "sms": f"+62813{n:07d}",
            "telegram": str(700000000 + n), "terminal": f"pelanggan-{n}",
        }[channel]  # fmt: skip
        lang = "en" if pick.random() < 0.2 else "id"
        started = now - timedelta(days=pick.uniform(0, 420))
        held = staff_state = waiting = None
        if n < chats:  # handed to staff: waiting, held or closed
            staff_state = ("waiting", "held", "closed")[n % 5 % 3]
            waiting = now - timedelta(minutes=pick.randint(1, 3000))
            held = pick.choice(STAFF) if staff_state == "held" else None
            waiting = None if staff_state == "closed" else waiting
        conversation = rows.add(
            "conversations", channel, address, "staff" if waiting else "menu", "{}", lang, 0,
            _iso(waiting) if waiting else None, _iso(started), _iso(started), _iso(started), held,
        )  # fmt: skip
        last = _transcript(rows, conversation, channel, lang, started, pick.randint(4, 8), pick)
        if staff_state:
            reason = pick.choice(["customer_request", "failed_answers", "unplaced"])
            rows.add("escalations", conversation, reason, _iso(last), _iso(last))
            last = _transcript(rows, conversation, channel, lang, last, pick.randint(8, 25), pick)
            if staff_state != "waiting":
                who = held or pick.choice(STAFF)
                rows.add("chat_events", conversation, who, "claim", "", _iso(last))
                for text in pick.sample(STAFF_LINES, 2):
                    rows.add(
                        "outbound_messages", conversation, None, 0, "staff.reply", lang, text,
                        _iso(last), "[]", _iso(last), None, "delivered", who,
                    )  # fmt: skip
                rows.add("staff_notes", conversation, who, "Pelanggan sudah dua kali tanya.",
                         _iso(last))  # fmt: skip
                if staff_state == "closed":
                    rows.add("chat_events", conversation, who, "release", "", _iso(last))
        conversations.append((conversation, channel, address, lang, started))

    references: set[str] = set()
    chosen: dict[str, str] = {}
    statuses = [s for s, share in STATUSES.items() for _ in range(share)]
    searched = ("", "")
    tokens: dict[str, list[str]] = {}
    for n in range(requests):
        kind = list(TYPES)[n % 4]
        status = pick.choice(statuses)
        conversation, channel, address, lang, started = conversations[n % customers]
        reference = ""
        while not reference or reference in references:
            reference = TYPES[kind] + "-" + "".join(pick.choices(ALPHABET, k=6))
        references.add(reference)
        name = (
            pick.choice(OTHER_NAMES)
            if pick.random() < 0.12
            else f"{pick.choice(FIRST)} {pick.choice(LAST)}"
        )
        email = _email(name, n, pick)
        created = started + timedelta(minutes=pick.randint(1, 30))
        due = created + timedelta(days=42 + (365 if pick.random() < 0.03 else 0))
        details = {
            "deletion": {"reason_code": pick.choice(["switching", "closing", "privacy"])},
            "access": {},
            "correction": {"correction_field": "business", "correction_value": "Toko Maju Jaya"},
            "restriction": {"restriction_scope": ["promotions", "partners"]},
        }[kind]
        reason = "Pindah ke aplikasi lain" if kind == "deletion" else None
        # A completed deletion forgets its customer at once (bot.requests.retention).
        forgotten = kind == "deletion" and status == "completed"
        if forgotten:
            name, email, address, reason, details = (
                "",
                f"hmac:{pick.getrandbits(256):064x}",
                "",
                None,
                {},
            )
        request = rows.add(
            "requests", reference, kind, status, channel, address, conversation, lang, name,
            email, reason, json.dumps(details), _iso(created), _iso(created + timedelta(days=2)),
            due.date().isoformat(), _iso(created + timedelta(days=3)) if status in CLOSED else None,
            int(pick.random() < 0.03),
        )  # fmt: skip
        _request_history(rows, request, status, created, due, pick)
        if forgotten:
            at = _iso(created + timedelta(days=3))
            rows.add("request_events", request, at, "system", "customer_forgotten", "{}")
        if status != "awaiting_id_proof":
            for _ in range(1 + (pick.random() < 0.15)):
                media = pick.choice(["image/jpeg", "image/jpeg", "image/png", "application/pdf"])
                gone = _iso(created + timedelta(days=33)) if status in CLOSED else None
                token = f"{pick.getrandbits(128):032x}"
                if not gone:
                    tokens.setdefault(reference, []).append(token)
                attachment = rows.add(
                    "attachments", token, conversation, request, None,
                    media, pick.randint(40_000, 3_000_000), f"{pick.getrandbits(256):064x}",
                    _iso(created), gone,
                )  # fmt: skip
                for _ in range(pick.randint(0, 3)):
                    rows.add(
                        "attachment_views", attachment, pick.choice(STAFF), "console",
                        _iso(created + timedelta(days=1)),
                    )  # fmt: skip
        chosen.setdefault(f"{kind}, {status.replace('_', ' ')}", reference)
        if n == requests // 2:
            searched = (email, reference[:5])
    with sqlite3.connect(path) as db:  # one transaction: committed on leaving
        for table, values in rows.tables.items():
            columns = "id, " + COLUMNS[table]
            marks = ", ".join("?" * (columns.count(",") + 1))
            db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
    wanted = [f"{kind}, in progress" for kind in TYPES] + ["deletion, completed"]
    sampled = {k: chosen[k] for k in wanted if k in chosen}
    return Desk(
        references=sampled,
        chats={
            "waiting": "1",
            "held": "2",
            "closed": "3",
        },
        searches=searched,
        proofs=[t for reference in sampled.values() for t in tokens.get(reference, [])],
    )
