-- The centre's per-day counters are updated by every intake; as one row
-- each they serialised concurrent intakes on their row locks until commit.
-- They are now spread over shards (0-7, by ticket id); unit rows keep
-- shard 0. Sums add the shards up.

ALTER TABLE unit_day_counters ADD COLUMN shard BIGINT NOT NULL DEFAULT 0;
ALTER TABLE unit_day_counters DROP CONSTRAINT unit_day_counters_pkey;
ALTER TABLE unit_day_counters ADD PRIMARY KEY (unit_id, day, counter, shard);
