"""Accounts, email codes and downloads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.domain.models import CodeRecord, DownloadRecord
from bot.domain.timestamps import utc_iso as _ts
from bot.store.sql.queries import Queries, Row, _dt


class SqlCodes(Queries):
    async def find_account(self, email: str) -> tuple[str, str] | None:
        row = await self._one(
            "SELECT email, full_name FROM accounts WHERE email = ?", (email.casefold(),)
        )
        return (row[0], row[1]) if row else None

    async def count_accounts(self) -> int:
        row = await self._one("SELECT count(*) FROM accounts")
        return int(row[0]) if row else 0

    async def import_accounts(
        self, rows: Sequence[tuple[str, str, str | None]], now: datetime
    ) -> int:
        await self.db.executemany(
            "INSERT INTO accounts (email, full_name, phone, imported_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (email) DO UPDATE SET full_name = excluded.full_name, "
            "phone = excluded.phone, imported_at = excluded.imported_at",
            [(email.casefold(), name, phone, _ts(now)) for email, name, phone in rows],
        )
        return len(rows)

    async def get_code(self, conversation_id: int) -> CodeRecord | None:
        row = await self._one(
            "SELECT * FROM email_codes WHERE conversation_id = ?", (conversation_id,)
        )
        return _code(row) if row else None

    async def save_code(self, code: CodeRecord) -> None:
        await self.db.execute(
            "INSERT INTO email_codes (conversation_id, purpose, email, digest, "
            "directory_name, issued_at, expires_at, attempts, sends, last_sent_at, "
            "locked_until, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (conversation_id) DO UPDATE SET purpose = excluded.purpose, "
            "email = excluded.email, digest = excluded.digest, "
            "directory_name = excluded.directory_name, issued_at = excluded.issued_at, "
            "expires_at = excluded.expires_at, attempts = excluded.attempts, "
            "sends = excluded.sends, last_sent_at = excluded.last_sent_at, "
            "locked_until = excluded.locked_until, verified_at = excluded.verified_at",
            (
                code.conversation_id,
                code.purpose,
                code.email,
                code.digest,
                code.directory_name,
                _ts(code.issued_at),
                _ts(code.expires_at),
                code.attempts,
                code.sends,
                _ts(code.last_sent_at),
                _ts(code.locked_until) if code.locked_until else None,
                _ts(code.verified_at) if code.verified_at else None,
            ),
        )

    async def code_mails_since(self, email_digest: str, since: datetime) -> int:
        row = await self._one(
            "SELECT count(*) FROM code_mails WHERE email_digest = ? AND sent_at >= ?",
            (email_digest, _ts(since)),
        )
        return int(row[0]) if row else 0

    async def take_code_mail(self, email_digest: str, now: datetime, per_hour: int) -> bool:
        if await self.code_mails_since(email_digest, now - timedelta(hours=1)) >= per_hour:
            return False
        await self.db.execute(
            "INSERT INTO code_mails (email_digest, sent_at) VALUES (?, ?)",
            (email_digest, _ts(now)),
        )
        return True

    async def drop_code_mails(self, before: datetime) -> None:
        await self.db.execute("DELETE FROM code_mails WHERE sent_at < ?", (_ts(before),))

    async def create_download(
        self,
        token_hash: str,
        reference: str,
        blob_token: str,
        size: int,
        sha256: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.db.execute(
            "INSERT INTO downloads (token_hash, request_id, blob_token, size, sha256, "
            "created_at, expires_at) SELECT ?, id, ?, ?, ?, ?, ? FROM requests WHERE reference = ?",
            (token_hash, blob_token, size, sha256, _ts(now), _ts(expires_at), reference),
        )

    async def get_download(self, token_hash: str, now: datetime) -> DownloadRecord | None:
        row = await self._one(
            "SELECT d.*, r.reference, r.email, r.language FROM downloads d "
            "JOIN requests r ON r.id = d.request_id WHERE d.token_hash = ? AND d.expires_at > ?",
            (token_hash, _ts(now)),
        )
        if row is None:
            return None
        return DownloadRecord(
            token_hash=row["token_hash"],
            reference=row["reference"],
            email=row["email"],
            language=row["language"],
            blob_token=row["blob_token"],
            size=row["size"],
            sha256=row["sha256"],
            created_at=datetime.fromisoformat(row["created_at"]),
            expires_at=datetime.fromisoformat(row["expires_at"]),
            code_digest=row["code_digest"],
            code_expires=_dt(row["code_expires"]),
            code_attempts=row["code_attempts"],
            code_sent_at=_dt(row["code_sent_at"]),
        )

    async def set_download_code(
        self,
        token_hash: str,
        digest: str | None,
        expires: datetime | None,
        attempts: int,
        sent_at: datetime | None,
    ) -> None:
        await self.db.execute(
            "UPDATE downloads SET code_digest = ?, code_expires = ?, code_attempts = ?, "
            "code_sent_at = coalesce(?, code_sent_at) WHERE token_hash = ?",
            (
                digest,
                _ts(expires) if expires else None,
                attempts,
                _ts(sent_at) if sent_at else None,
                token_hash,
            ),
        )


def _code(row: Row) -> CodeRecord:
    return CodeRecord(
        conversation_id=row["conversation_id"],
        purpose=row["purpose"],
        email=row["email"],
        digest=row["digest"],
        directory_name=row["directory_name"],
        issued_at=datetime.fromisoformat(row["issued_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        attempts=row["attempts"],
        sends=row["sends"],
        last_sent_at=datetime.fromisoformat(row["last_sent_at"]),
        locked_until=_dt(row["locked_until"]),
        verified_at=_dt(row["verified_at"]),
    )
