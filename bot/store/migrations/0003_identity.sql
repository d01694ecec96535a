-- Identity: the account directory's local table, email codes, ID-proof views,
-- and the start of each request's ID-proof retention period.

CREATE TABLE accounts (
    email       TEXT PRIMARY KEY,  -- case-folded
    full_name   TEXT NOT NULL,
    phone       TEXT,
    imported_at TEXT NOT NULL
);

-- The one email code a conversation is waiting for. Only a keyed hash of the
-- code is kept; ``digest`` is NULL when no code was sent (the email did not
-- qualify), which the customer cannot tell from the replies.
CREATE TABLE email_codes (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations (id),
    purpose         TEXT NOT NULL,
    email           TEXT NOT NULL,
    digest          TEXT,
    directory_name  TEXT,
    issued_at       TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    sends           INTEGER NOT NULL DEFAULT 1,
    last_sent_at    TEXT NOT NULL,
    locked_until    TEXT,
    verified_at     TEXT
);

-- Who looked at an ID proof, when, and why.
CREATE TABLE attachment_views (
    id            INTEGER PRIMARY KEY,
    attachment_id INTEGER NOT NULL REFERENCES attachments (id),
    viewer        TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    viewed_at     TEXT NOT NULL
);

-- When the request was verified, completed, rejected or cancelled: the ID
-- proof is deleted a retention period after this.
ALTER TABLE requests ADD COLUMN retention_from TEXT;
