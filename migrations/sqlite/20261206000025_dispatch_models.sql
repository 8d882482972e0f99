-- Learned dispatch suggestion (issue #18): versions of the dispatch model,
-- which one is active, their audit trail; which model routed a ticket; and
-- units retired from the directory (机构改革: abolished, merged, renamed),
-- which a model must never suggest again.

ALTER TABLE tickets ADD COLUMN routing_model_version INTEGER;

-- A retired unit keeps its row (tickets and events refer to it); this row
-- says since when it takes no new tickets and which unit took its matters
-- over (NULL: none, the matters are spread or gone). A rename is a
-- retirement with the new unit as successor.
CREATE TABLE unit_retirements (
    unit_id        TEXT PRIMARY KEY REFERENCES units (id),
    successor_id   TEXT REFERENCES units (id),
    note           TEXT NOT NULL,
    retired_by     TEXT NOT NULL,
    retire_time_us INTEGER NOT NULL
);

-- One trained model per row, immutable. `params` is the serialized sparse
-- model (hotline-model's ModelParams, JSON), `units` the JSON array of the
-- unit ids it can suggest, `metrics` its held-out evaluation (JSON).
CREATE TABLE dispatch_models (
    version        INTEGER PRIMARY KEY AUTOINCREMENT,
    params         TEXT NOT NULL,
    trained_on     INTEGER NOT NULL,
    held_out       INTEGER NOT NULL,
    units          TEXT NOT NULL,
    metrics        TEXT NOT NULL,
    note           TEXT NOT NULL,
    creator        TEXT NOT NULL,
    create_time_us INTEGER NOT NULL
);

-- The active version (0: none, routing by the rules alone). One row, so an
-- activation is one conditional UPDATE that a concurrent one cannot undo
-- unseen.
CREATE TABLE dispatch_model_active (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version   INTEGER NOT NULL
);
INSERT INTO dispatch_model_active (singleton, version) VALUES (1, 0);

-- Every change, in the transaction of the change: `trained` (version: the
-- new one), `activated` and `rolled_back` (version: now active, previous:
-- active before; 0 is none).
CREATE TABLE dispatch_model_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    previous   INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    note       TEXT NOT NULL,
    time_us    INTEGER NOT NULL
);
CREATE INDEX dispatch_model_events_version ON dispatch_model_events (version, id);
