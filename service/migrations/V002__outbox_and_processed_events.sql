-- The Transactional Outbox: an event is a row written in the same transaction as its
-- order, so both commit or neither does. The relay publishes pending rows and deletes
-- each one once the broker confirmed it: the table holds only what is still to be sent,
-- which keeps the relay's locking scan and the backlog count small; the topic is the
-- record of what was published.
CREATE TABLE outbox (
    id          BIGSERIAL   PRIMARY KEY,
    event_id    UUID        NOT NULL UNIQUE,
    topic       TEXT        NOT NULL,
    -- The Kafka message key: the order id, so an order's events share a partition.
    message_key TEXT        NOT NULL,
    -- json, not jsonb: the text is kept exactly as the service wrote it.
    payload     JSON        NOT NULL,
    -- When the event occurred (the order's createdAt): the start of the relay's delay.
    created_at  TIMESTAMPTZ NOT NULL,
    attempts    INTEGER     NOT NULL DEFAULT 0,
    last_error  TEXT
);

-- The relay takes only the oldest pending row of each order (per-order ordering across
-- instances): this index answers "is there an earlier row for this key?".
CREATE INDEX outbox_message_key_id_idx ON outbox (message_key, id);

-- Delivery is at least once: a consumer records each event id it handled in the same
-- transaction as the handling, and skips an id it finds here.
CREATE TABLE processed_events (
    event_id     UUID        PRIMARY KEY,
    event_type   TEXT        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
