-- Per-unit, per-local-day counters behind the unit scorecards (DOMAIN.md §6),
-- changed in the same transaction as the events that cause them, so a
-- month's scorecard sums at most 31 rows per counter instead of scanning
-- tickets. unit_id '' is the centre itself.

CREATE TABLE unit_day_counters (
    unit_id TEXT NOT NULL,
    day     TEXT NOT NULL,
    counter TEXT NOT NULL,
    value   INTEGER NOT NULL,
    PRIMARY KEY (unit_id, day, counter)
);
