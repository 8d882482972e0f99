-- Foundation schema: regions, units, tickets with their audit trail,
-- idempotency keys, the daily ticket-number counter and the PII access log.
-- Times are microseconds since the Unix epoch; enums are text codes.

CREATE TABLE regions (
    code         TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    parent_code  TEXT REFERENCES regions (code)
);

CREATE TABLE units (
    id             TEXT PRIMARY KEY,
    display_name   TEXT NOT NULL,
    kind           TEXT NOT NULL,
    region_code    TEXT NOT NULL,
    parent_id      TEXT REFERENCES units (id),
    create_time_us INTEGER NOT NULL
);
CREATE INDEX units_region ON units (region_code);

CREATE TABLE tickets (
    id                      TEXT PRIMARY KEY,
    number                  TEXT NOT NULL UNIQUE,
    state                   TEXT NOT NULL,
    channel                 TEXT NOT NULL,
    legacy_hotline          TEXT,
    caller_name             TEXT,
    caller_phone            TEXT,
    caller_anonymous        BOOLEAN NOT NULL,
    confidential            BOOLEAN NOT NULL,
    request_type            TEXT NOT NULL,
    urgency                 TEXT NOT NULL,
    subject_code            TEXT,
    region_code             TEXT NOT NULL,
    address                 TEXT NOT NULL,
    title                   TEXT NOT NULL,
    description             TEXT NOT NULL,
    lead_unit_id            TEXT REFERENCES units (id),
    dispatch_count          INTEGER NOT NULL,
    intake_answer           TEXT,
    emergency_service       TEXT,
    legal_channel           TEXT,
    disposition_note        TEXT,
    reply                   TEXT,
    reply_contacted_citizen BOOLEAN,
    reply_time_us           INTEGER,
    satisfaction            TEXT,
    resolved                BOOLEAN,
    callback_comment        TEXT,
    callback_time_us        INTEGER,
    close_reason            TEXT,
    creator                 TEXT NOT NULL,
    create_time_us          INTEGER NOT NULL,
    update_time_us          INTEGER NOT NULL,
    version                 INTEGER NOT NULL
);
CREATE INDEX tickets_created ON tickets (create_time_us DESC, id DESC);
CREATE INDEX tickets_state ON tickets (state, create_time_us DESC, id DESC);
CREATE INDEX tickets_lead_unit ON tickets (lead_unit_id, create_time_us DESC, id DESC);
CREATE INDEX tickets_type ON tickets (request_type, create_time_us DESC, id DESC);
CREATE INDEX tickets_region ON tickets (region_code, create_time_us DESC);
CREATE INDEX tickets_caller_phone ON tickets (caller_phone, create_time_us DESC, id DESC);

CREATE TABLE ticket_events (
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    sequence   INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    payload    TEXT NOT NULL,
    time_us    INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, sequence)
);
CREATE INDEX ticket_events_time ON ticket_events (time_us);

CREATE TABLE daily_counters (
    day      TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);

CREATE TABLE idempotency_keys (
    subject        TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    operation      TEXT NOT NULL,
    resource       TEXT NOT NULL,
    create_time_us INTEGER NOT NULL,
    PRIMARY KEY (subject, request_id)
);

CREATE TABLE pii_access_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    subject   TEXT NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    purpose   TEXT NOT NULL,
    time_us   INTEGER NOT NULL
);
CREATE INDEX pii_access_log_ticket ON pii_access_log (ticket_id);
