-- The centre's per-day counters are updated by every intake; as one row
-- each they serialised concurrent intakes on their row locks until commit.
-- They are now spread over shards (0-7, by ticket id); unit rows keep
-- shard 0. Sums add the shards up.

CREATE TABLE unit_day_counters_sharded (
    unit_id TEXT NOT NULL,
    day     TEXT NOT NULL,
    counter TEXT NOT NULL,
    shard   INTEGER NOT NULL DEFAULT 0,
    value   INTEGER NOT NULL,
    PRIMARY KEY (unit_id, day, counter, shard)
);
INSERT INTO unit_day_counters_sharded (unit_id, day, counter, shard, value)
    SELECT unit_id, day, counter, 0, value FROM unit_day_counters;
DROP TABLE unit_day_counters;
ALTER TABLE unit_day_counters_sharded RENAME TO unit_day_counters;
