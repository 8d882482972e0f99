-- A ticket whose street is not in the region directory (its district is)
-- carries a note saying so, for the agent who routes it from the triage
-- queue; NULL for every other ticket, and for tickets from before.

ALTER TABLE tickets ADD COLUMN region_note TEXT;
