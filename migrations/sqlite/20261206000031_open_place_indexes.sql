-- Duplicate candidates off one index per place level (issue #16: candidates
-- < 5 ms p99 at 10 M). A search reads the open tickets of the probe's street
-- (or district) since a day, newest first. Read through the per-state
-- indexes (`tickets_street_state`, `tickets_district_state`) that was four
-- ordered parts, each up to 100 index entries and 100 table rows. These
-- partial indexes hold only the open tickets (the states a merge can take, a
-- small share of the table) in list order.
--
-- SQLite has no INCLUDE: what the narrow read returns (state, sketch) and
-- what a supervisor's scope checks (region, district) follow the order
-- columns at the end of the key, which makes the index covering (no row of
-- the table is read) at the price of comparing them on insert, where the
-- leading columns are already unique (`id`), so they never decide.
--
-- The statement writes the state list literally (`lists_sql.rs`,
-- `OPEN_STATES_SQL`, whose unit test checks it against this file): SQLite
-- uses a partial index only when the query's WHERE contains its terms.
CREATE INDEX tickets_open_street
    ON tickets (street_code, create_time_us DESC, id DESC, state, region_code, district_code, text_sketch)
    WHERE state IN ('pending_dispatch', 'dispatched', 'in_progress', 'return_requested');
CREATE INDEX tickets_open_district
    ON tickets (district_code, create_time_us DESC, id DESC, state, region_code, text_sketch)
    WHERE state IN ('pending_dispatch', 'dispatched', 'in_progress', 'return_requested');
