-- Supervision: the warning time of the reply deadline, which deadline
-- crossings the sweeper has recorded this round, the next crossing still to
-- come (indexed: the sweeper reads only rows with something due), and the
-- open supervision order (督办单).

ALTER TABLE tickets ADD COLUMN warn_at_us INTEGER;
ALTER TABLE tickets ADD COLUMN alert_sign_overdue BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tickets ADD COLUMN alert_warned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tickets ADD COLUMN alert_overdue BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tickets ADD COLUMN next_alert_us INTEGER;
ALTER TABLE tickets ADD COLUMN supervision_reason TEXT;
ALTER TABLE tickets ADD COLUMN supervision_issued_by TEXT;
ALTER TABLE tickets ADD COLUMN supervision_issue_time_us INTEGER;
ALTER TABLE tickets ADD COLUMN supervision_response_deadline_us INTEGER;
ALTER TABLE tickets ADD COLUMN supervision_automatic BOOLEAN;

CREATE INDEX tickets_next_alert ON tickets (next_alert_us) WHERE next_alert_us IS NOT NULL;
CREATE INDEX tickets_supervision ON tickets (supervision_issue_time_us) WHERE supervision_issue_time_us IS NOT NULL;

-- Time-limit policies set over the admin RPC; the highest version is in
-- force (none stored: the configuration file's policy).
CREATE TABLE time_limit_policies (
    version      INTEGER PRIMARY KEY,
    policy       TEXT NOT NULL,
    changed_by   TEXT NOT NULL,
    change_time_us INTEGER NOT NULL
);
