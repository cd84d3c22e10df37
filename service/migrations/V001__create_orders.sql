-- Orders and their items, as queried by the seed's checks.
-- Column limits match service/domain/model.py (MAX_QUANTITY, MAX_UNIT_PRICE, MAX_TOTAL).
CREATE TABLE orders (
    id          UUID PRIMARY KEY,
    customer_id UUID           NOT NULL,
    status      TEXT           NOT NULL CHECK (status IN ('CREATED', 'CANCELLED')),
    total       NUMERIC(14, 2) NOT NULL CHECK (total > 0),
    created_at  TIMESTAMPTZ    NOT NULL,
    updated_at  TIMESTAMPTZ    NOT NULL
);

CREATE TABLE order_items (
    id         BIGSERIAL PRIMARY KEY,
    order_id   UUID           NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id UUID           NOT NULL,
    quantity   INTEGER        NOT NULL CHECK (quantity > 0),
    unit_price NUMERIC(10, 2) NOT NULL CHECK (unit_price > 0)
);

CREATE INDEX order_items_order_id_idx ON order_items (order_id);
