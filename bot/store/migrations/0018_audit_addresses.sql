-- Where a staff member was when they opened a file (an ID proof, a file sent
-- in a chat), for the audit view's "from where". Views recorded before this
-- have none (NULL: the audit says the address was not kept).
ALTER TABLE attachment_views ADD COLUMN address TEXT;
