-- Every list read index-backed (issue #15, point 1); the PostgreSQL
-- migration of the same name says why. SQLite plans each statement with its
-- values, but gets the same columns and indexes so both backends run the
-- same SQL from the same indexes.
--
-- (PostgreSQL's reasoning:)
-- sqlx prepares statements, and after five executions PostgreSQL may plan
-- them once for any value (a generic plan). A region prefix written as a
-- range (`region_code >= $1 AND region_code < $2`) then costs as "some
-- range": the plan bitmap-scans the whole district and sorts it. A ticket's
-- district (6 digits) and street (9 digits) are therefore stored as columns
-- of their own, filled at write from the region code, and a region prefix
-- that is exactly a district or a street becomes an equality on them; the
-- composite indexes below give each list its order (`create_time_us DESC,
-- id DESC`) after that equality, so a page is read off one index.
ALTER TABLE tickets ADD COLUMN district_code TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN street_code TEXT;
UPDATE tickets SET
    district_code = substr(region_code, 1, 6),
    street_code = CASE WHEN length(region_code) >= 9 THEN substr(region_code, 1, 9) END;

-- The region index only served ranges; the district and street ones
-- replace it (a prefix finer than a street narrows by its street first).
DROP INDEX IF EXISTS tickets_region;
CREATE INDEX tickets_district ON tickets (district_code, create_time_us DESC, id DESC);
CREATE INDEX tickets_district_state
    ON tickets (district_code, state, create_time_us DESC, id DESC);
CREATE INDEX tickets_street ON tickets (street_code, create_time_us DESC, id DESC);
CREATE INDEX tickets_street_state
    ON tickets (street_code, state, create_time_us DESC, id DESC);
-- A unit's inbox by state (签收 / 办理中).
CREATE INDEX tickets_lead_unit_state
    ON tickets (lead_unit_id, state, create_time_us DESC, id DESC);

-- ListOverdue: tickets still being handled, oldest first; the partial
-- indexes hold only those (a small share of the table), so the page does
-- not walk past closed tickets, also for one district or one lead unit.
CREATE INDEX tickets_handling_created ON tickets (create_time_us, id)
    WHERE state IN ('dispatched', 'in_progress', 'return_requested');
CREATE INDEX tickets_handling_district ON tickets (district_code, create_time_us, id)
    WHERE state IN ('dispatched', 'in_progress', 'return_requested');
CREATE INDEX tickets_handling_lead_unit ON tickets (lead_unit_id, create_time_us, id)
    WHERE state IN ('dispatched', 'in_progress', 'return_requested');

-- ListSupervisionOrders: open orders in list order (the old index was by
-- issue time, which no query orders by).
DROP INDEX IF EXISTS tickets_supervision;
CREATE INDEX tickets_supervision_created ON tickets (create_time_us, id)
    WHERE supervision_issue_time_us IS NOT NULL;

-- A unit's co-handled tickets in list order: the ticket's creation time is
-- copied beside the pair (it never changes), so the co-unit half of a
-- unit's list is an ordered index scan instead of a join sorted whole.
ALTER TABLE ticket_co_units ADD COLUMN ticket_create_time_us BIGINT NOT NULL DEFAULT 0;
UPDATE ticket_co_units SET ticket_create_time_us =
    (SELECT t.create_time_us FROM tickets t WHERE t.id = ticket_co_units.ticket_id);
DROP INDEX IF EXISTS ticket_co_units_unit;
CREATE INDEX ticket_co_units_unit
    ON ticket_co_units (unit_id, ticket_create_time_us DESC, ticket_id DESC);
