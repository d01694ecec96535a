-- Mail that follows a committed step (email codes in the chat, codes of the
-- download page): written sealed in the step's transaction and sent by the
-- outbox worker, so a process that dies after the commit loses no mail. A row
-- goes once its mail is sent, or dropped (an ineligible address, an expired code).
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,   -- code or download_code
    sealed          TEXT NOT NULL,   -- the mail, and what arms a code: sealed, never in clear
    idempotency_key TEXT NOT NULL UNIQUE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    expires_at      TEXT NOT NULL,   -- a code nobody can use any more is not sent
    created_at      TEXT NOT NULL,
    last_error      TEXT
);

CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at);
