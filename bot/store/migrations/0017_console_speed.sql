-- The console on a busy desk (issue 12: every page under 50 ms with 10,000
-- requests and 1,000 chats).
--
-- The queue's search looks for part of an email, a name or a reference in
-- every request: folding each of them (Python's casefold, called back from
-- SQLite three times a row, twice a search) was most of the page's time.
-- The folded forms are kept beside them instead, by triggers (so any writer
-- keeps them: the store, the forgetting, a bulk load), with SQLite's own
-- functions only: lower() folds ASCII as casefold does, so a value with
-- anything else is left NULL and folded by casefold when searched or sorted.
-- (A text is ASCII when it has as many characters as UTF-8 bytes.)
ALTER TABLE requests ADD COLUMN email_folded TEXT;
ALTER TABLE requests ADD COLUMN name_folded TEXT;
-- No dash, upper case, O read as 0 and I, L as 1 (as the queue search reads one).
ALTER TABLE requests ADD COLUMN reference_folded TEXT NOT NULL DEFAULT '';

UPDATE requests SET
    email_folded = CASE WHEN length(email) = length(CAST(email AS BLOB)) THEN lower(email) END,
    name_folded = CASE WHEN length(full_name) = length(CAST(full_name AS BLOB))
        THEN lower(full_name) END,
    reference_folded = replace(replace(replace(replace(upper(reference), '-', ''), 'O', '0'),
        'I', '1'), 'L', '1');

CREATE TRIGGER requests_folded_on_insert AFTER INSERT ON requests BEGIN
    UPDATE requests SET
        email_folded = CASE WHEN length(new.email) = length(CAST(new.email AS BLOB))
            THEN lower(new.email) END,
        name_folded = CASE WHEN length(new.full_name) = length(CAST(new.full_name AS BLOB))
            THEN lower(new.full_name) END,
        reference_folded = replace(replace(replace(replace(upper(new.reference), '-', ''),
            'O', '0'), 'I', '1'), 'L', '1')
    WHERE id = new.id;
END;

CREATE TRIGGER requests_folded_on_update AFTER UPDATE OF reference, email, full_name
ON requests BEGIN
    UPDATE requests SET
        email_folded = CASE WHEN length(new.email) = length(CAST(new.email AS BLOB))
            THEN lower(new.email) END,
        name_folded = CASE WHEN length(new.full_name) = length(CAST(new.full_name AS BLOB))
            THEN lower(new.full_name) END,
        reference_folded = replace(replace(replace(replace(upper(new.reference), '-', ''),
            'O', '0'), 'I', '1'), 'L', '1')
    WHERE id = new.id;
END;

-- A chat's earlier chats: those from the same address, and those of the
-- requests filed with the same email (compared lower-cased, as they are).
CREATE INDEX conversations_by_address ON conversations (address);
CREATE INDEX requests_by_email ON requests (lower(email));
-- A chat's files, shown in its transcript.
CREATE INDEX attachments_by_conversation ON attachments (conversation_id, id);
-- The audit view's newest ID-proof views first.
CREATE INDEX attachment_views_by_time ON attachment_views (viewed_at, id);
