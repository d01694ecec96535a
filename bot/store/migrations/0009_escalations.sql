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
