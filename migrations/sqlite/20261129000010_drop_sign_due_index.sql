-- No query reads tickets by (state, sign_deadline_us) since the sweeper
-- finds every deadline crossing through tickets_next_alert; the index only
-- cost a write on every ticket insert and update.

DROP INDEX IF EXISTS tickets_sign_due;
