-- Hotspots (issue #18): surges of one matter that the detector finds in
-- the stream of new tickets, each with the supervision item it opens (a
-- first response due 5 hours after detection) and the centre's decision.
--
-- Every replica runs the detector over the same tickets in the same order,
-- so several may detect one hotspot: `seed_ticket_id` (its cluster's first
-- ticket) is its natural key, unique, and a ticket belongs to at most one
-- hotspot (`hotspot_tickets` is keyed by the ticket), so however many
-- replicas record it there is one row, one member row per ticket and one
-- supervision item.
--
-- `change_seq` is the hotspot's last change in one sequence over all
-- hotspots, taken from `hotspot_cursor` inside the writing transaction (the
-- row stays locked until commit, so numbers commit in order): WatchHotspots
-- on any replica follows "changes after N" without missing one. A merge
-- changes two rows under one number. `create_seq` is the number that
-- recorded the hotspot.
CREATE TABLE hotspot_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO hotspot_cursor (id, seq) VALUES (1, 0);

CREATE TABLE hotspots (
    id                   TEXT PRIMARY KEY,
    seed_ticket_id       TEXT NOT NULL REFERENCES tickets (id),
    state                TEXT NOT NULL,
    merged_into          TEXT REFERENCES hotspots (id),
    area                 TEXT NOT NULL,
    district             TEXT NOT NULL,
    subject              TEXT NOT NULL,
    -- The heat as of the latest ticket recorded.
    heat_count           INTEGER NOT NULL,
    heat_recent          INTEGER NOT NULL,
    heat_growth          INTEGER NOT NULL,
    heat_callers         INTEGER NOT NULL,
    first_ticket_time_us INTEGER NOT NULL,
    last_ticket_time_us  INTEGER NOT NULL,
    -- JSON arrays of text: area codes, top words, example ticket ids.
    areas                TEXT NOT NULL,
    top_words            TEXT NOT NULL,
    examples             TEXT NOT NULL,
    -- The supervision item: due at, answered at and by whom.
    response_deadline_us INTEGER NOT NULL,
    response_time_us     INTEGER,
    responder            TEXT,
    -- The dismissal reason or the confirmation note.
    note                 TEXT,
    create_time_us       INTEGER NOT NULL,
    update_time_us       INTEGER NOT NULL,
    change_seq           INTEGER NOT NULL,
    create_seq           INTEGER NOT NULL
);
CREATE UNIQUE INDEX hotspots_seed ON hotspots (seed_ticket_id);
CREATE INDEX hotspots_created ON hotspots (create_time_us DESC, id DESC);
CREATE INDEX hotspots_area ON hotspots (area, create_time_us DESC, id DESC);
CREATE INDEX hotspots_change ON hotspots (change_seq);
CREATE INDEX hotspots_unanswered ON hotspots (response_deadline_us) WHERE response_time_us IS NULL;
CREATE INDEX hotspots_merged_into ON hotspots (merged_into) WHERE merged_into IS NOT NULL;

-- The tickets of each hotspot's cluster, as detected and as it grows.
CREATE TABLE hotspot_tickets (
    ticket_id      TEXT PRIMARY KEY REFERENCES tickets (id),
    hotspot_id     TEXT NOT NULL REFERENCES hotspots (id),
    ticket_time_us INTEGER NOT NULL
);
CREATE INDEX hotspot_tickets_hotspot ON hotspot_tickets (hotspot_id, ticket_time_us, ticket_id);

-- Every change, in the transaction of the change.
CREATE TABLE hotspot_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    hotspot_id TEXT NOT NULL REFERENCES hotspots (id),
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    note       TEXT,
    time_us    INTEGER NOT NULL
);
CREATE INDEX hotspot_events_hotspot ON hotspot_events (hotspot_id, id);
