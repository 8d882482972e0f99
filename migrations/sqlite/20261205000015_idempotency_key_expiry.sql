-- Idempotency keys expire (`idempotency.retention_hours`): the purge deletes
-- the oldest records first, a bounded batch at a time, found by this index
-- rather than by scanning the table for each batch.

CREATE INDEX idempotency_keys_create_time ON idempotency_keys (create_time_us);
