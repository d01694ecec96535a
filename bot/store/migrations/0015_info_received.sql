-- A request whose customer answered staff's "ask" is 'info_received'.
--
-- The status is checked by the table (0001): SQLite cannot ALTER a CHECK, and
-- rebuilding the table is not possible here (other tables refer to it, and
-- the migrations run in one transaction with foreign keys on, where dropping
-- the old table fails). A CHECK does not change how rows are stored, so the
-- table's text is changed in place, as SQLite's ALTER TABLE documentation
-- describes; RESET makes this connection read the new schema at once, and
-- the index below changes the schema cookie, so other connections read it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
SET sql = replace(sql, '''needs_info'', ''in_progress''',
                       '''needs_info'', ''info_received'', ''in_progress''')
WHERE type = 'table' AND name = 'requests' AND sql NOT LIKE '%''info_received''%';
PRAGMA writable_schema = RESET;
PRAGMA writable_schema = OFF;

-- The console's queue sorts a page of requests in the database: by due date
-- (also the order of business days left) and by filing date, with the id
-- breaking ties; a status filter uses requests_by_status (0001).
CREATE INDEX requests_by_due ON requests (due_date, id);
CREATE INDEX requests_by_filed ON requests (created_at, id);
-- "Answered requests asked by me": the latest ask of each request.
CREATE INDEX request_events_by_kind_request ON request_events (kind, request_id, id);
