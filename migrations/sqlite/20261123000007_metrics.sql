-- Auditing the scorecards (DOMAIN.md §6).
--
-- counter_entries: the ledger behind unit_day_counters, one row per counter
-- change with the ticket that caused it, written in the same transaction;
-- ExplainMetric lists the tickets behind a numerator or denominator from it.
-- frozen_months / frozen_counters: a month's counters copied at freeze time
-- (月度考核 snapshot), which later corrections to past days do not change.

CREATE TABLE counter_entries (
    unit_id   TEXT NOT NULL,
    counter   TEXT NOT NULL,
    day       TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    delta     INTEGER NOT NULL
);
CREATE INDEX counter_entries_lookup ON counter_entries (unit_id, counter, day, ticket_id);

CREATE TABLE frozen_months (
    month          TEXT PRIMARY KEY,
    frozen_by      TEXT NOT NULL,
    freeze_time_us INTEGER NOT NULL
);

CREATE TABLE frozen_counters (
    month   TEXT NOT NULL REFERENCES frozen_months (month),
    unit_id TEXT NOT NULL,
    counter TEXT NOT NULL,
    value   INTEGER NOT NULL,
    PRIMARY KEY (month, unit_id, counter)
);
