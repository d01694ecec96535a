-- What staff wrote to a customer and is not sent yet: the terminal, which has
-- no push, looks for it before each prompt.
CREATE INDEX outbound_waiting ON outbound_messages (conversation_id)
    WHERE sent_at IS NULL AND author IS NOT NULL;
