-- The desk as a whole (issue 12): a one-time password must be changed at the
-- first login, admins see when each account last signed in, and what the
-- audit view needs that was not recorded: logins (with their address) and
-- queue exports, and where each account change came from.
ALTER TABLE staff ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE staff ADD COLUMN last_login_at TEXT;
ALTER TABLE staff_audit ADD COLUMN address TEXT;

-- Logins (kind login, login_failed, login_locked) and exports of the queue
-- (kind export). ``actor``: the account's email, or NULL for a login with an
-- email no account has (what was typed is not kept: it may be a password).
CREATE TABLE access_log (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    actor   TEXT,
    subject TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL,
    at      TEXT NOT NULL
);

CREATE INDEX access_log_by_kind ON access_log (kind, at);

-- The dashboard counts completions by when they happened.
CREATE INDEX request_events_by_kind ON request_events (kind, at);
