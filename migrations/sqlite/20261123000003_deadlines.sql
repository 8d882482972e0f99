-- Time limits: the deadlines of the current handling round (each with the
-- calendar version that computed it), when the unit signed, and extensions.
-- Indexed by state and deadline so the sweeper finds what is due without
-- scanning every ticket.

ALTER TABLE tickets ADD COLUMN sign_deadline_us INTEGER;
ALTER TABLE tickets ADD COLUMN sign_deadline_provisional BOOLEAN;
ALTER TABLE tickets ADD COLUMN sign_calendar_version INTEGER;
ALTER TABLE tickets ADD COLUMN reply_deadline_us INTEGER;
ALTER TABLE tickets ADD COLUMN reply_deadline_provisional BOOLEAN;
ALTER TABLE tickets ADD COLUMN reply_calendar_version INTEGER;
ALTER TABLE tickets ADD COLUMN sign_time_us INTEGER;
ALTER TABLE tickets ADD COLUMN extension_days INTEGER;
ALTER TABLE tickets ADD COLUMN extension_reason TEXT;
ALTER TABLE tickets ADD COLUMN extension_time_us INTEGER;
ALTER TABLE tickets ADD COLUMN extensions_granted INTEGER NOT NULL DEFAULT 0;

CREATE INDEX tickets_reply_due ON tickets (state, reply_deadline_us);
CREATE INDEX tickets_sign_due ON tickets (state, sign_deadline_us);

-- Working-day calendar versions: each import stores the whole merged
-- calendar as a new version; the highest version is in force.
CREATE TABLE calendars (
    version      INTEGER PRIMARY KEY,
    data         TEXT NOT NULL,
    note         TEXT NOT NULL,
    loaded_by    TEXT NOT NULL,
    load_time_us INTEGER NOT NULL
);

CREATE TABLE calendar_counter (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_version INTEGER NOT NULL
);
