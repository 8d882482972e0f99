-- Routing: co-handling units, designation, the return side path, which rule
-- routed a ticket, and the dispatch catalogue (draft rules, immutable
-- published versions, the active pointer).

ALTER TABLE tickets ADD COLUMN co_unit_ids TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN designated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tickets ADD COLUMN dispatch_time_us INTEGER;
ALTER TABLE tickets ADD COLUMN routing_rule_id TEXT;
ALTER TABLE tickets ADD COLUMN routing_rule_set_version INTEGER;
ALTER TABLE tickets ADD COLUMN return_from_state TEXT;
ALTER TABLE tickets ADD COLUMN return_reason TEXT;
ALTER TABLE tickets ADD COLUMN return_legal_basis TEXT;
ALTER TABLE tickets ADD COLUMN return_time_us INTEGER;

-- Co-handling units, for the row scope of unit users (tickets.co_unit_ids
-- carries the same list for reads without a join).
CREATE TABLE ticket_co_units (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    unit_id   TEXT NOT NULL REFERENCES units (id),
    PRIMARY KEY (ticket_id, unit_id)
);
CREATE INDEX ticket_co_units_unit ON ticket_co_units (unit_id, ticket_id);

CREATE TABLE routing_draft_rules (
    id             TEXT PRIMARY KEY,
    spec           TEXT NOT NULL,
    update_time_us INTEGER NOT NULL
);

CREATE TABLE rule_sets (
    version         INTEGER PRIMARY KEY,
    rules           TEXT NOT NULL,
    rule_count      INTEGER NOT NULL,
    publisher       TEXT NOT NULL,
    note            TEXT NOT NULL,
    publish_time_us INTEGER NOT NULL
);

-- The last version handed out. Publishing takes the next one with an upsert
-- on this single row, which queues concurrent publishers (PostgreSQL row
-- lock; SQLite's write lock) instead of letting two of them read the same
-- MAX(version) and collide on the primary key.
CREATE TABLE rule_set_counter (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_version INTEGER NOT NULL
);

CREATE TABLE routing_active (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version   INTEGER NOT NULL REFERENCES rule_sets (version)
);
