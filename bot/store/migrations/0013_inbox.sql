-- The console's inbox: ready answers staff pick in a chat (managed by admins,
-- in both languages), what each staff member has read of each chat (the
-- unread mark), and the look-ups the chat list and the transcript make.

-- Ready answers. The configured ones (config/messages, [canned]) are copied in
-- once, the first time they are read, keeping their key so a form naming one
-- by key still finds it; answers added in the console have no key.
CREATE TABLE ready_answers (
    id         INTEGER PRIMARY KEY,
    key        TEXT UNIQUE,
    text_id    TEXT NOT NULL,
    text_en    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

-- One row once the configured answers were copied in: an admin who deletes
-- them all does not get them back at the next read.
CREATE TABLE ready_answers_seeded (
    seeded_at TEXT NOT NULL
);

-- The last customer message a staff member has seen in a chat.
CREATE TABLE chat_reads (
    staff           TEXT NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    last_inbound_id INTEGER NOT NULL,
    read_at         TEXT NOT NULL,
    PRIMARY KEY (staff, conversation_id)
);

CREATE INDEX escalations_by_conversation ON escalations (conversation_id, id);
CREATE INDEX attachments_by_inbound ON attachments (inbound_id) WHERE inbound_id IS NOT NULL;
CREATE INDEX outbound_by_conversation ON outbound_messages (conversation_id, id);
CREATE INDEX staff_notes_by_conversation ON staff_notes (conversation_id, id);
