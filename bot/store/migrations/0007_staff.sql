-- Staff accounts (argon2id password hashes) and their console sessions.
CREATE TABLE staff (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL CHECK (role IN ('agent', 'admin')),
    password_hash  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until   TEXT
);

-- Only a hash of the session cookie is kept.
CREATE TABLE staff_sessions (
    id_hash      TEXT PRIMARY KEY,
    staff_id     INTEGER NOT NULL REFERENCES staff (id),
    csrf_token   TEXT NOT NULL,
    language     TEXT NOT NULL DEFAULT 'id',
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);

-- Failed logins by client address, for slowing down and locking out guessing.
CREATE TABLE login_failures (
    address      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_at      TEXT NOT NULL,
    locked_until TEXT
);
