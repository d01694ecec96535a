"""Staff accounts, sessions, login counters and API tokens."""

from __future__ import annotations

from datetime import datetime

from bot.domain.records_staff import (
    LoginFailures,
    StaffAccount,
    StaffAuditEntry,
    StaffMember,
    StaffSessionRecord,
)
from bot.domain.timestamps import utc_iso as _ts
from bot.store.sql.queries import Queries, Row, _dt


class SqlStaff(Queries):
    async def create_staff(
        self,
        email: str,
        role: str,
        password_hash: str,
        now: datetime,
        must_change_password: bool = False,
    ) -> bool:
        cur = await self.db.execute(
            "INSERT INTO staff (email, role, password_hash, created_at, "
            "must_change_password) VALUES (lower(?), ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (email, role, password_hash, _ts(now), int(must_change_password)),
        )
        return cur.rowcount == 1

    async def count_staff(self) -> int:
        row = await self._one("SELECT count(*) FROM staff")
        return int(row[0]) if row else 0

    async def list_staff(self) -> list[StaffMember]:
        rows = await self._all(
            "SELECT id, email, role, created_at, locked_until, disabled_at, last_login_at, "
            "must_change_password FROM staff ORDER BY email"
        )
        return [_member(r) for r in rows]

    async def staff_by_email(self, email: str) -> StaffAccount | None:
        row = await self._one("SELECT * FROM staff WHERE email = lower(?)", (email,))
        if row is None:
            return None
        return StaffAccount(
            **vars(_member(row)),
            password_hash=row["password_hash"],
            failed_logins=row["failed_logins"],
        )

    async def other_active_admins(self, staff_id: int) -> int:
        row = await self._one(
            "SELECT count(*) FROM staff WHERE role = 'admin' AND disabled_at IS NULL AND id != ?",
            (staff_id,),
        )
        return int(row[0]) if row else 0

    async def update_staff(
        self,
        staff_id: int,
        *,
        role: str | None = None,
        disabled_at: datetime | bool | None = False,
        password_hash: str | None = None,
        must_change_password: bool | None = None,
    ) -> None:
        if must_change_password is not None:
            await self.db.execute(
                "UPDATE staff SET must_change_password = ? WHERE id = ?",
                (int(must_change_password), staff_id),
            )
        if role is not None:
            await self.db.execute("UPDATE staff SET role = ? WHERE id = ?", (role, staff_id))
        if disabled_at is not False:
            value = _ts(disabled_at) if isinstance(disabled_at, datetime) else None
            await self.db.execute(
                "UPDATE staff SET disabled_at = ? WHERE id = ?", (value, staff_id)
            )
        if password_hash is not None:
            await self.db.execute(
                "UPDATE staff SET password_hash = ?, failed_logins = 0, locked_until = NULL "
                "WHERE id = ?",
                (password_hash, staff_id),
            )

    async def note_staff_login(self, staff_id: int, now: datetime) -> None:
        await self.db.execute(
            "UPDATE staff SET last_login_at = ? WHERE id = ?", (_ts(now), staff_id)
        )

    async def end_sessions_of(self, staff_id: int, keep: str | None = None) -> None:
        await self.db.execute(
            "DELETE FROM staff_sessions WHERE staff_id = ? AND id_hash IS DISTINCT FROM ?",
            (staff_id, keep),
        )

    async def add_staff_audit(
        self, actor: str, action: str, subject: str, now: datetime, address: str | None = None
    ) -> None:
        await self.db.execute(
            "INSERT INTO staff_audit (actor, action, subject, created_at, address) "
            "VALUES (?, ?, ?, ?, ?)",
            (actor, action, subject, _ts(now), address),
        )

    async def staff_audit(self, limit: int) -> list[StaffAuditEntry]:
        rows = await self._all(
            "SELECT actor, action, subject, created_at, address FROM staff_audit "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            StaffAuditEntry(
                actor=r["actor"],
                action=r["action"],
                subject=r["subject"],
                created_at=datetime.fromisoformat(r["created_at"]),
                address=r["address"],
            )
            for r in rows
        ]

    async def set_staff_login_state(
        self, staff_id: int, failed: int, locked_until: datetime | None
    ) -> None:
        await self.db.execute(
            "UPDATE staff SET failed_logins = ?, locked_until = ? WHERE id = ?",
            (failed, _ts(locked_until) if locked_until else None, staff_id),
        )

    async def add_staff_login_failure(self, staff_id: int) -> tuple[int, datetime | None]:
        row = await self._one(
            "UPDATE staff SET failed_logins = failed_logins + 1 WHERE id = ? "
            "RETURNING failed_logins, locked_until",
            (staff_id,),
        )
        return (int(row[0]), _dt(row[1])) if row else (0, None)

    async def login_failures(self, address: str) -> LoginFailures | None:
        row = await self._one("SELECT * FROM login_failures WHERE address = ?", (address,))
        if row is None:
            return None
        return LoginFailures(
            address=row["address"],
            failures=row["failures"],
            last_at=datetime.fromisoformat(row["last_at"]),
            locked_until=_dt(row["locked_until"]),
        )

    async def add_login_failure(self, address: str, now: datetime) -> tuple[int, datetime | None]:
        row = await self._one(
            "INSERT INTO login_failures (address, failures, last_at) VALUES (?, 1, ?) "
            "ON CONFLICT (address) DO UPDATE SET failures = login_failures.failures + 1, "
            "last_at = excluded.last_at RETURNING failures, locked_until",
            (address, _ts(now)),
        )
        assert row is not None
        return int(row[0]), _dt(row[1])

    async def set_login_failures(
        self, address: str, failures: int, locked_until: datetime | None, now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO login_failures (address, failures, last_at, locked_until) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET failures = "
            "excluded.failures, last_at = excluded.last_at, locked_until = excluded.locked_until",
            (address, failures, _ts(now), _ts(locked_until) if locked_until else None),
        )

    async def create_session(
        self, id_hash: str, staff_id: int, csrf: str, language: str, now: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO staff_sessions (id_hash, staff_id, csrf_token, language, created_at, "
            "last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
            (id_hash, staff_id, csrf, language, _ts(now), _ts(now)),
        )

    async def get_session(self, id_hash: str) -> StaffSessionRecord | None:
        row = await self._one(
            "SELECT s.*, f.email, f.role, f.must_change_password FROM staff_sessions s "
            "JOIN staff f ON f.id = s.staff_id "
            "WHERE s.id_hash = ? AND f.disabled_at IS NULL",
            (id_hash,),
        )
        if row is None:
            return None
        return StaffSessionRecord(
            id_hash=row["id_hash"],
            staff_id=row["staff_id"],
            email=row["email"],
            role=row["role"],
            csrf=row["csrf_token"],
            language=row["language"],
            created_at=datetime.fromisoformat(row["created_at"]),
            last_seen_at=datetime.fromisoformat(row["last_seen_at"]),
            must_change_password=bool(row["must_change_password"]),
        )

    async def touch_session(self, id_hash: str, now: datetime, language: str | None) -> None:
        await self.db.execute(
            "UPDATE staff_sessions SET last_seen_at = ?, language = coalesce(?, language) "
            "WHERE id_hash = ?",
            (_ts(now), language, id_hash),
        )

    async def delete_session(self, id_hash: str) -> None:
        await self.db.execute("DELETE FROM staff_sessions WHERE id_hash = ?", (id_hash,))

    async def create_api_token(self, name: str, token_hash: str, now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?, ?, ?)",
            (name, token_hash, _ts(now)),
        )

    async def api_token_name(self, token_hash: str, now: datetime) -> str | None:
        row = await self._one(
            "SELECT name FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
            (token_hash,),
        )
        if row is None:
            return None
        await self.db.execute(
            "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?", (_ts(now), token_hash)
        )
        return str(row[0])


def _member(row: Row) -> StaffMember:
    return StaffMember(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        created_at=datetime.fromisoformat(row["created_at"]),
        locked_until=_dt(row["locked_until"]),
        disabled_at=_dt(row["disabled_at"]),
        last_login_at=_dt(row["last_login_at"]),
        must_change_password=bool(row["must_change_password"]),
    )
