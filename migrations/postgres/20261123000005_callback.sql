-- Callback loop: reopen (重办) count and the callback deadline, indexed
-- through next_alert_us like the other deadline crossings.

ALTER TABLE tickets ADD COLUMN reopen_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN callback_deadline_us BIGINT;
