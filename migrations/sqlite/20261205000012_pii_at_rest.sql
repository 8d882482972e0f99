-- Caller data encrypted at rest (issue #14). The application seals the
-- caller's name and phone, the address, the description and the callback
-- comment (see crates/store/src/pii); the row records the key it used, and
-- the phone is searched through a keyed blind index instead of the clear
-- number, whose index goes.
--
-- Rows written before this migration keep their clear text and a NULL
-- pii_key_id: they are read as they are, and `hotline keys rotate` seals
-- them and fills their blind index (LookupCaller finds them after that).
ALTER TABLE tickets ADD COLUMN pii_key_id TEXT;
ALTER TABLE tickets ADD COLUMN caller_phone_index TEXT;
DROP INDEX IF EXISTS tickets_caller_phone;
CREATE INDEX tickets_caller_phone_index
    ON tickets (caller_phone_index, create_time_us DESC, id DESC);

-- The PII access log, with the reader's role, the RPC and the purpose, and
-- one row for a read of many tickets (LookupCaller): `ticket_id` when one
-- ticket was shown, else NULL with the tickets comma-separated in
-- `ticket_ids`. The old log's rows come over with the role unknown.
CREATE TABLE pii_access (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    time_us      INTEGER NOT NULL,
    subject      TEXT NOT NULL,
    role         TEXT NOT NULL,
    rpc          TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    ticket_id    TEXT REFERENCES tickets (id),
    ticket_ids   TEXT NOT NULL,
    ticket_count INTEGER NOT NULL
);
INSERT INTO pii_access (time_us, subject, role, rpc, purpose, ticket_id, ticket_ids, ticket_count)
SELECT time_us, subject, 'unknown', purpose,
       CASE purpose WHEN 'LookupCaller' THEN 'caller_lookup' ELSE 'ticket_view' END,
       ticket_id, '', 1
FROM pii_access_log
ORDER BY id;
DROP TABLE pii_access_log;
CREATE INDEX pii_access_time ON pii_access (time_us DESC, id DESC);
CREATE INDEX pii_access_ticket ON pii_access (ticket_id, time_us DESC, id DESC);
CREATE INDEX pii_access_subject ON pii_access (subject, time_us DESC, id DESC);
