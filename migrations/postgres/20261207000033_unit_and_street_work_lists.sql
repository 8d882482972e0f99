-- Two lists a supervisor sends that had no index of their own (issue #15):
--
-- * a unit's open supervision orders (ListSupervisionOrders with a lead
--   unit, oldest first): the lead unit's index walked past every ticket the
--   unit ever led to find its few orders, and the generic plan
--   bitmap-scanned them and sorted;
-- * a street's overdue tickets (ListOverdue for a street, or by a street's
--   supervisor): the street's index walked past its closed tickets.
--
-- Both are partial indexes of small shares of the table (orders are rare,
-- tickets in handling a few per cent), so they cost intake little.
CREATE INDEX tickets_supervision_lead_unit ON tickets (lead_unit_id, create_time_us, id)
    WHERE supervision_issue_time_us IS NOT NULL;
CREATE INDEX tickets_handling_street ON tickets (street_code, create_time_us, id)
    WHERE state IN ('dispatched', 'in_progress', 'return_requested');
