-- Routing: co-handling units, designation, the return side path, which rule
-- routed a ticket, and the dispatch catalogue (draft rules, immutable
-- published versions, the active pointer). Text keys use COLLATE "C" like
-- the foundation schema, so ordering matches SQLite.

ALTER TABLE tickets ADD COLUMN co_unit_ids TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN designated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tickets ADD COLUMN dispatch_time_us BIGINT;
ALTER TABLE tickets ADD COLUMN routing_rule_id TEXT;
ALTER TABLE tickets ADD COLUMN routing_rule_set_version BIGINT;
ALTER TABLE tickets ADD COLUMN return_from_state TEXT;
ALTER TABLE tickets ADD COLUMN return_reason TEXT;
ALTER TABLE tickets ADD COLUMN return_legal_basis TEXT;
ALTER TABLE tickets ADD COLUMN return_time_us BIGINT;

CREATE TABLE ticket_co_units (
    ticket_id TEXT COLLATE "C" NOT NULL REFERENCES tickets (id),
    unit_id   TEXT COLLATE "C" NOT NULL REFERENCES units (id),
    PRIMARY KEY (ticket_id, unit_id)
);
CREATE INDEX ticket_co_units_unit ON ticket_co_units (unit_id, ticket_id);

CREATE TABLE routing_draft_rules (
    id             TEXT COLLATE "C" PRIMARY KEY,
    spec           TEXT NOT NULL,
    update_time_us BIGINT NOT NULL
);

CREATE TABLE rule_sets (
    version         BIGINT PRIMARY KEY,
    rules           TEXT NOT NULL,
    rule_count      INTEGER NOT NULL,
    publisher       TEXT NOT NULL,
    note            TEXT NOT NULL,
    publish_time_us BIGINT NOT NULL
);

-- The last version handed out. Publishing takes the next one with an upsert
-- on this single row, which queues concurrent publishers (PostgreSQL row
-- lock; SQLite's write lock) instead of letting two of them read the same
-- MAX(version) and collide on the primary key.
CREATE TABLE rule_set_counter (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_version BIGINT NOT NULL
);

CREATE TABLE routing_active (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version   BIGINT NOT NULL REFERENCES rule_sets (version)
);
