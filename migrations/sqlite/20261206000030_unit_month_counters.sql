-- Per-unit, per-month counter totals beside the per-day ones, changed by
-- the same statements, so a month's total always equals the sum of its
-- days. A ranking of every unit over a month read the month's per-day rows
-- (units x days x counters); it now reads the month rows (units x
-- counters), less any days outside the period (domain::metrics::sum_plan).
-- Sharded as the day rows are. The primary key leads with the month: a
-- ranking reads every unit of one month.

CREATE TABLE unit_month_counters (
    month   TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    counter TEXT NOT NULL,
    shard   INTEGER NOT NULL DEFAULT 0,
    value   INTEGER NOT NULL,
    PRIMARY KEY (month, unit_id, counter, shard)
);

INSERT INTO unit_month_counters (month, unit_id, counter, shard, value)
    SELECT substr(day, 1, 7), unit_id, counter, shard, SUM(value)
    FROM unit_day_counters
    GROUP BY substr(day, 1, 7), unit_id, counter, shard;
