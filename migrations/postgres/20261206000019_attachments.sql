-- Attachments of tickets (issue #16): the metadata here, the bytes in object
-- storage under `attachments/{ticket_id}/{id}` (derived from the ids, so no
-- key column). A row is inserted `uploading` before any byte is written and
-- becomes `complete` only after the object is; a row left `uploading` past
-- the grace period is an abandoned upload, which the cleanup sweep aborts
-- (`upload_id`: the object store's multipart upload) and removes. Ids are
-- UUIDv7 strings, so (ticket_id, id) lists a ticket's files in upload order.
CREATE TABLE attachments (
    id                TEXT COLLATE "C" PRIMARY KEY,
    ticket_id         TEXT COLLATE "C" NOT NULL REFERENCES tickets (id),
    state             TEXT NOT NULL,
    file_name         TEXT NOT NULL,
    content_type      TEXT NOT NULL,
    size_bytes        BIGINT NOT NULL,
    sha256            TEXT NOT NULL,
    shared_with_units BOOLEAN NOT NULL,
    upload_id         TEXT,
    uploader          TEXT NOT NULL,
    uploader_role     TEXT NOT NULL,
    create_time_us    BIGINT NOT NULL
);
CREATE INDEX attachments_ticket ON attachments (ticket_id, id);
CREATE INDEX attachments_state ON attachments (state, create_time_us);

-- The audit trail of attachments: every completed upload and every
-- deletion (by a user or by the retention policy), written in the
-- transaction of the change. No foreign key to `attachments`: the trail
-- outlives the files it records.
CREATE TABLE attachment_events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attachment_id TEXT COLLATE "C" NOT NULL,
    ticket_id     TEXT COLLATE "C" NOT NULL REFERENCES tickets (id),
    kind          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    actor_role    TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    time_us       BIGINT NOT NULL
);
CREATE INDEX attachment_events_ticket ON attachment_events (ticket_id, id);
