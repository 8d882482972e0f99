-- Foundation schema: regions, units, tickets with their audit trail,
-- idempotency keys, the daily ticket-number counter and the PII access log.
-- Times are microseconds since the Unix epoch; enums are text codes.
--
-- Ids and codes that are ordered, range-scanned by prefix (`code >= '3301' AND
-- code < '3301:'`) or used as keyset cursors are `COLLATE "C"`: byte order, as
-- in SQLite and in Rust. Under a linguistic collation (initdb's default on most
-- systems, e.g. en_US.UTF-8 or zh_CN.UTF-8) punctuation such as ':' and '-' is
-- ignored at the first level, so prefix scans would miss rows and unit ids
-- would sort differently from the other backend.

CREATE TABLE regions (
    code         TEXT COLLATE "C" PRIMARY KEY,
    display_name TEXT NOT NULL,
    parent_code  TEXT COLLATE "C" REFERENCES regions (code)
);

CREATE TABLE units (
    id             TEXT COLLATE "C" PRIMARY KEY,
    display_name   TEXT NOT NULL,
    kind           TEXT NOT NULL,
    region_code    TEXT COLLATE "C" NOT NULL,
    parent_id      TEXT COLLATE "C" REFERENCES units (id),
    create_time_us BIGINT NOT NULL
);
CREATE INDEX units_region ON units (region_code);

CREATE TABLE tickets (
    id                      TEXT COLLATE "C" PRIMARY KEY,
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
    region_code             TEXT COLLATE "C" NOT NULL,
    address                 TEXT NOT NULL,
    title                   TEXT NOT NULL,
    description             TEXT NOT NULL,
    lead_unit_id            TEXT COLLATE "C" REFERENCES units (id),
    dispatch_count          INTEGER NOT NULL,
    intake_answer           TEXT,
    emergency_service       TEXT,
    legal_channel           TEXT,
    disposition_note        TEXT,
    reply                   TEXT,
    reply_contacted_citizen BOOLEAN,
    reply_time_us           BIGINT,
    satisfaction            TEXT,
    resolved                BOOLEAN,
    callback_comment        TEXT,
    callback_time_us        BIGINT,
    close_reason            TEXT,
    creator                 TEXT NOT NULL,
    create_time_us          BIGINT NOT NULL,
    update_time_us          BIGINT NOT NULL,
    version                 BIGINT NOT NULL
);
CREATE INDEX tickets_created ON tickets (create_time_us DESC, id DESC);
CREATE INDEX tickets_state ON tickets (state, create_time_us DESC, id DESC);
CREATE INDEX tickets_lead_unit ON tickets (lead_unit_id, create_time_us DESC, id DESC);
CREATE INDEX tickets_type ON tickets (request_type, create_time_us DESC, id DESC);
CREATE INDEX tickets_region ON tickets (region_code, create_time_us DESC);
CREATE INDEX tickets_caller_phone ON tickets (caller_phone, create_time_us DESC, id DESC);

CREATE TABLE ticket_events (
    ticket_id  TEXT COLLATE "C" NOT NULL REFERENCES tickets (id),
    sequence   BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    payload    TEXT NOT NULL,
    time_us    BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, sequence)
);
CREATE INDEX ticket_events_time ON ticket_events (time_us);

CREATE TABLE daily_counters (
    day      TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL
);

CREATE TABLE idempotency_keys (
    subject        TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    operation      TEXT NOT NULL,
    resource       TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (subject, request_id)
);

CREATE TABLE pii_access_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject   TEXT NOT NULL,
    ticket_id TEXT COLLATE "C" NOT NULL REFERENCES tickets (id),
    purpose   TEXT NOT NULL,
    time_us   BIGINT NOT NULL
);
CREATE INDEX pii_access_log_ticket ON pii_access_log (ticket_id);
