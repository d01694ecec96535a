-- Each hand-over of a chat to staff: why and when (the customer asked, failed
-- answers, messages the bot could not place), and when the staff Telegram
-- group was told of it.
CREATE TABLE escalations (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    reason          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    announced_at    TEXT
);

CREATE INDEX escalations_unannounced ON escalations (created_at) WHERE announced_at IS NULL;

-- What staff did in a chat (took it over, handed it on, gave it back, how a
-- reply went out): who and when. Replies carry their author.
CREATE TABLE chat_events (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    actor           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL
);

CREATE INDEX chat_events_by_conversation ON chat_events (conversation_id, id);

ALTER TABLE outbound_messages ADD COLUMN author TEXT;
-- 1 when the text is kept sealed (it carries a one-time link).
ALTER TABLE outbound_messages ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;

-- Staff accounts can be disabled (kept for the record: their name is on
-- events), and what admins do to accounts is recorded.
ALTER TABLE staff ADD COLUMN disabled_at TEXT;

CREATE TABLE staff_audit (
    id         INTEGER PRIMARY KEY,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The console's activity mark and inbox read the few chats staff are on.
CREATE INDEX conversations_with_staff ON conversations (id)
    WHERE claimed_by IS NOT NULL OR waiting_staff_since IS NOT NULL;

-- A notification's send looks for a delivery report that came before it.
CREATE INDEX delivery_events_by_provider ON delivery_events (provider_id);

-- Code mails sent, by a keyed hash of the address (not the address): a limit
-- per mailbox across conversations, so many phones cannot flood one inbox.
-- Rows older than a day are dropped by the hourly purge.
CREATE TABLE code_mails (
    email_digest TEXT NOT NULL,
    sent_at      TEXT NOT NULL
);

CREATE INDEX code_mails_by_email ON code_mails (email_digest, sent_at);
