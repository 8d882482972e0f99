-- Merging duplicates (并单, issue #16 point 1). A merged duplicate names
-- its primary, the state undoing the merge restores, and when it was merged
-- (the day the scorecards count the merge on); NULL on every other ticket.
--
-- Why columns on the ticket rather than a link table: the link changes
-- exactly when the duplicate's row does (merge, unmerge), so it is written
-- by the same version-checked UPDATE and cannot drift from the state; the
-- duplicate's caller stays sealed in its own row (name, phone and blind
-- index under the store's PII codec), read with it when the primary's
-- callers are listed, so no second copy of caller data is kept.
ALTER TABLE tickets ADD COLUMN merged_into TEXT;
ALTER TABLE tickets ADD COLUMN merge_from_state TEXT;
ALTER TABLE tickets ADD COLUMN merge_time_us BIGINT;

-- A primary's duplicates (GetTicket, the callers to call back, the chain
-- rule): only merged tickets are in the index.
CREATE INDEX tickets_merged_into ON tickets (merged_into, id)
    WHERE merged_into IS NOT NULL;

-- Duplicate candidates (ListDuplicateCandidates) need no index of their
-- own: a caller's tickets come from tickets_caller_phone_index, the open
-- tickets of a street or district from tickets_street_state and
-- tickets_district_state (one part per open state, newest first).
