-- Staff taking over chats: who holds a conversation, and their internal notes.
ALTER TABLE conversations ADD COLUMN claimed_by TEXT;

CREATE TABLE staff_notes (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    author          TEXT NOT NULL,
    text            TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
