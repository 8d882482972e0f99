-- Tickets imported from a retired hotline (`hotline import legacy`) keep
-- their number there. Unique per hotline: the import skips rows already
-- imported, so a rerun after a crash resumes, and a second importer racing
-- the first fails instead of doubling a ticket. NULL for tickets taken here.

ALTER TABLE tickets ADD COLUMN legacy_number TEXT;
CREATE UNIQUE INDEX tickets_legacy_number ON tickets (legacy_number, legacy_hotline)
    WHERE legacy_number IS NOT NULL;
