-- Learned dispatch suggestion (issue #18): versions of the dispatch model,
-- which one is active, their audit trail; which model routed a ticket; and
-- units retired from the directory (机构改革: abolished, merged, renamed),
-- which a model must never suggest again.

ALTER TABLE tickets ADD COLUMN routing_model_version BIGINT;

-- A retired unit keeps its row (tickets and events refer to it); this row
-- says since when it takes no new tickets and which unit took its matters
-- over (NULL: none, the matters are spread or gone). A rename is a
-- retirement with the new unit as successor.
CREATE TABLE unit_retirements (
    unit_id        TEXT COLLATE "C" PRIMARY KEY REFERENCES units (id),
    successor_id   TEXT COLLATE "C" REFERENCES units (id),
    note           TEXT NOT NULL,
    retired_by     TEXT NOT NULL,
    retire_time_us BIGINT NOT NULL
);

-- One trained model per row, immutable. `params` is the serialized sparse
-- model (hotline-model's ModelParams, JSON), `units` the JSON array of the
-- unit ids it can suggest, `metrics` its held-out evaluation (JSON).
CREATE TABLE dispatch_models (
    version        BIGSERIAL PRIMARY KEY,
    params         TEXT NOT NULL,
    trained_on     BIGINT NOT NULL,
    held_out       BIGINT NOT NULL,
    units          TEXT NOT NULL,
    metrics        TEXT NOT NULL,
    note           TEXT NOT NULL,
    creator        TEXT NOT NULL,
    create_time_us BIGINT NOT NULL
);

-- The active version (0: none, routing by the rules alone). One row, so an
-- activation is one conditional UPDATE that a concurrent one cannot undo
-- unseen.
CREATE TABLE dispatch_model_active (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version   BIGINT NOT NULL
);
INSERT INTO dispatch_model_active (singleton, version) VALUES (1, 0);

-- Every change, in the transaction of the change: `trained` (version: the
-- new one), `activated` and `rolled_back` (version: now active, previous:
-- active before; 0 is none).
CREATE TABLE dispatch_model_events (
    id         BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    previous   BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    note       TEXT NOT NULL,
    time_us    BIGINT NOT NULL
);
CREATE INDEX dispatch_model_events_version ON dispatch_model_events (version, id);
