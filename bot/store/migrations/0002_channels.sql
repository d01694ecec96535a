-- Channels: delivery tracking of replies, buttons, consent, upload links.

-- Buttons shown with a reply (JSON list of [label, value]); when and how a
-- reply went out, and what the provider last said about its delivery.
ALTER TABLE outbound_messages ADD COLUMN buttons TEXT NOT NULL DEFAULT '[]';
ALTER TABLE outbound_messages ADD COLUMN sent_at TEXT;
ALTER TABLE outbound_messages ADD COLUMN provider_id TEXT;
ALTER TABLE outbound_messages ADD COLUMN delivery_status TEXT;
ALTER TABLE outbound_messages ADD COLUMN delivery_updated_at TEXT;

CREATE INDEX outbound_by_provider_id ON outbound_messages (provider_id)
    WHERE provider_id IS NOT NULL;

-- Every delivery report a provider sent, as received.
CREATE TABLE delivery_events (
    id          INTEGER PRIMARY KEY,
    outbound_id INTEGER REFERENCES outbound_messages (id),
    provider_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    error_code  TEXT,
    received_at TEXT NOT NULL
);

-- Customers who asked not to receive messages the bot starts itself.
CREATE TABLE opt_outs (
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    opted_out   INTEGER NOT NULL,
    source      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (channel, address)
);

-- One-time links for sending ID proof from a phone that cannot attach files
-- (SMS). Only a hash of the token is kept.
CREATE TABLE upload_tokens (
    token_hash      TEXT PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT
);

CREATE INDEX upload_tokens_by_conversation ON upload_tokens (conversation_id);
