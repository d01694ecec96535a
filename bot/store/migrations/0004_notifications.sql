-- The outbox: notifications to customers, written in the same transaction as
-- the action that causes them and sent (and retried) by a worker.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    request_id      INTEGER NOT NULL REFERENCES requests (id),
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL,   -- whatsapp, sms, telegram, terminal or email
    address         TEXT NOT NULL,
    language        TEXT NOT NULL,
    params          TEXT NOT NULL DEFAULT '{}',
    idempotency_key TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'given_up')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    provider_id     TEXT,
    last_error      TEXT
);

CREATE INDEX notifications_due ON notifications (status, next_attempt_at);

-- Set when something about the request needs a person (e.g. a notification
-- that could not be delivered).
ALTER TABLE requests ADD COLUMN needs_attention INTEGER NOT NULL DEFAULT 0;
