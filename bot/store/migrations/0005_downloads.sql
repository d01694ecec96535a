-- Data copies for access requests: a sealed zip behind a one-time-code page.
CREATE TABLE downloads (
    token_hash     TEXT PRIMARY KEY,
    request_id     INTEGER NOT NULL REFERENCES requests (id),
    blob_token     TEXT NOT NULL,
    size           INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    code_digest    TEXT,
    code_expires   TEXT,
    code_attempts  INTEGER NOT NULL DEFAULT 0,
    code_sent_at   TEXT
);
