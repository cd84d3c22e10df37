-- A client's Idempotency-Key, stored with the order it created: a repeated request finds
-- the first order instead of placing a second one. NULLs are distinct: orders placed
-- without a key never conflict.
ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX orders_idempotency_key_idx ON orders (idempotency_key);

-- Each outbox row gets its own back-off: a row that failed waits until next_attempt_at,
-- while the rows of other orders go on. NULL means "as soon as possible".
ALTER TABLE outbox ADD COLUMN next_attempt_at TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN last_attempt_at TIMESTAMPTZ;

-- processed_events is pruned by age; this index keeps the prune cheap.
CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);
