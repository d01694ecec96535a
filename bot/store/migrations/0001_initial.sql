-- Conversations: one per channel address, holding the dialogue's state.
CREATE TABLE conversations (
    id                  INTEGER PRIMARY KEY,
    channel             TEXT NOT NULL,
    address             TEXT NOT NULL,
    state               TEXT NOT NULL,
    slots               TEXT NOT NULL DEFAULT '{}',
    language            TEXT NOT NULL,
    failures            INTEGER NOT NULL DEFAULT 0,
    waiting_staff_since TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    last_activity_at    TEXT,
    UNIQUE (channel, address)
);

CREATE INDEX conversations_waiting ON conversations (waiting_staff_since)
    WHERE waiting_staff_since IS NOT NULL;

-- Every message a customer sent, keyed by the channel's own message id so a
-- repeated delivery is recognised.
CREATE TABLE inbound_messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id),
    channel          TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    text             TEXT NOT NULL,
    truncated        INTEGER NOT NULL DEFAULT 0,
    attachment_count INTEGER NOT NULL DEFAULT 0,
    state_before     TEXT NOT NULL,
    state_after      TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    UNIQUE (channel, external_id)
);

CREATE INDEX inbound_by_conversation ON inbound_messages (conversation_id, id);

-- Every reply the bot gave, in order, linked to the message it answered.
CREATE TABLE outbound_messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    inbound_id      INTEGER REFERENCES inbound_messages (id),
    position        INTEGER NOT NULL,
    message_key     TEXT NOT NULL,
    language        TEXT NOT NULL,
    text            TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE INDEX outbound_by_inbound ON outbound_messages (inbound_id, position);

CREATE TABLE requests (
    id               INTEGER PRIMARY KEY,
    reference        TEXT NOT NULL UNIQUE,
    type             TEXT NOT NULL
        CHECK (type IN ('deletion', 'access', 'correction', 'restriction')),
    status           TEXT NOT NULL
        CHECK (status IN ('awaiting_id_proof', 'verifying', 'needs_info', 'in_progress',
                          'completed', 'rejected', 'cancelled')),
    channel          TEXT NOT NULL,
    customer_address TEXT NOT NULL,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id),
    language         TEXT NOT NULL,
    full_name        TEXT NOT NULL,
    email            TEXT NOT NULL,
    reason           TEXT,
    details          TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    due_date         TEXT NOT NULL
);

CREATE INDEX requests_by_address ON requests (channel, customer_address);
CREATE INDEX requests_by_status ON requests (status, due_date);

-- What happened to each request, by whom: the audit trail.
CREATE TABLE request_events (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests (id),
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX request_events_by_request ON request_events (request_id, id);

-- Files customers sent. The content is in the blob store under ``token``;
-- the database keeps only what describes it.
CREATE TABLE attachments (
    id              INTEGER PRIMARY KEY,
    token           TEXT NOT NULL UNIQUE,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    request_id      INTEGER REFERENCES requests (id),
    inbound_id      INTEGER REFERENCES inbound_messages (id),
    media_type      TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    deleted_at      TEXT
);

CREATE INDEX attachments_by_request ON attachments (request_id);
