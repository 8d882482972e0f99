-- Webhooks (issue #16): subscriptions, the outbox cursor and deliveries.
--
-- The outbox rows are the ticket events themselves, committed in the same
-- transaction as every change (crates/store/src/webhooks.rs explains why
-- that is enough). webhook_cursor is how far into the event log (in the
-- feed's commit order) deliveries were made; a subscription remembers the
-- log position it was created at and receives only what came after.
CREATE TABLE webhook_subscriptions (
    id             TEXT COLLATE "C" PRIMARY KEY,
    url            TEXT NOT NULL,
    -- Sealed with the PII keys, like caller data.
    secret         TEXT NOT NULL,
    -- Comma-separated event kinds; empty: every kind.
    event_kinds    TEXT NOT NULL,
    unit_id        TEXT,
    region_prefix  TEXT,
    pii_allowed    BOOLEAN NOT NULL,
    active         BOOLEAN NOT NULL,
    description    TEXT NOT NULL,
    creator        TEXT NOT NULL,
    start_xid      BIGINT NOT NULL,
    start_id       BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL,
    version        BIGINT NOT NULL
);

-- One row: the feed position after the last event fanned out. (0, 0)
-- until the first fan-out moves it to the head of the log.
CREATE TABLE webhook_cursor (
    singleton BIGINT PRIMARY KEY CHECK (singleton = 1),
    feed_xid  BIGINT NOT NULL,
    feed_id   BIGINT NOT NULL
);
INSERT INTO webhook_cursor (singleton, feed_xid, feed_id) VALUES (1, 0, 0);

-- One event for one subscription. state: pending (waiting or in flight
-- under a lease), delivered, dead (the dead letter). claim_token names
-- the claim whose outcome may be recorded.
CREATE TABLE webhook_deliveries (
    id                BIGSERIAL PRIMARY KEY,
    subscription_id   TEXT COLLATE "C" NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    ticket_id         TEXT COLLATE "C" NOT NULL,
    sequence          BIGINT NOT NULL,
    event_kind        TEXT NOT NULL,
    state             TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    next_attempt_us   BIGINT NOT NULL,
    lease_until_us    BIGINT NOT NULL,
    claim_token       TEXT,
    last_status       BIGINT,
    last_error        TEXT,
    create_time_us    BIGINT NOT NULL,
    update_time_us    BIGINT NOT NULL,
    UNIQUE (subscription_id, ticket_id, sequence)
);
-- The claim's scan: pending deliveries by due time.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_us, id)
    WHERE state = 'pending';
-- ListWebhookDeliveries: a subscription's deliveries, newest first.
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id DESC);
-- The retention purge: delivered rows by age.
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (update_time_us)
    WHERE state = 'delivered';
