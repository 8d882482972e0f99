-- A request_id is bound to a fingerprint of the request it was first used
-- with (SHA-256 of the request without its request_id, base64url), so a
-- reused key with another payload is refused instead of replayed. Records
-- written before this column existed keep NULL and replay as before.

ALTER TABLE idempotency_keys ADD COLUMN fingerprint TEXT;
