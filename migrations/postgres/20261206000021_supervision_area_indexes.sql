-- A district's or a street's open supervision orders (ListSupervisionOrders
-- and a supervisor's list, oldest first) read off their own small index.
-- Supervision orders are rare (0.4 % of the tickets of `bench populate`), so
-- walking the district's index for twenty of them visited thousands of
-- tickets: 22 ms on a warm SQLite file of 1 M tickets, above a second under
-- load; with these partial indexes 0.1 ms. Few rows, so little to write.
CREATE INDEX tickets_supervision_district ON tickets (district_code, create_time_us, id)
    WHERE supervision_issue_time_us IS NOT NULL;
CREATE INDEX tickets_supervision_street ON tickets (street_code, create_time_us, id)
    WHERE supervision_issue_time_us IS NOT NULL;
