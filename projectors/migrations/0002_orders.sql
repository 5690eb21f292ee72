-- The orders read model: one row per order, its lines, and every event in order.
CREATE TABLE orders (
    order_id          uuid        PRIMARY KEY,
    customer_id       text        NOT NULL,
    currency          char(3)     NOT NULL,
    status            text        NOT NULL CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled')),
    total_minor       bigint      NOT NULL CHECK (total_minor >= 0),
    line_count        integer     NOT NULL,
    shipping_address  jsonb       NOT NULL,
    payment_reference text,
    paid_minor        bigint,
    carrier           text,
    tracking_number   text,
    cancel_reason     text,
    refund_due_minor  bigint,
    placed_at         timestamptz NOT NULL,
    paid_at           timestamptz,
    shipped_at        timestamptz,
    delivered_at      timestamptz,
    cancelled_at      timestamptz,
    version           bigint      NOT NULL,
    last_event_at     timestamptz NOT NULL
);
-- Keyset pagination and the query side's filters.
CREATE INDEX orders_placed_at ON orders (placed_at, order_id);
CREATE INDEX orders_total ON orders (total_minor, order_id);
CREATE INDEX orders_customer_placed_at ON orders (customer_id, placed_at, order_id);
CREATE INDEX orders_status_placed_at ON orders (status, placed_at, order_id);

CREATE TABLE order_lines (
    order_id         uuid    NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    position         integer NOT NULL,
    sku              text    NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint  NOT NULL,
    line_total_minor bigint  NOT NULL,
    PRIMARY KEY (order_id, position)
);

CREATE TABLE order_timeline (
    order_id    uuid        NOT NULL,
    version     bigint      NOT NULL,
    event_id    uuid        NOT NULL UNIQUE,
    event_type  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload     jsonb       NOT NULL,
    PRIMARY KEY (order_id, version)
);
CREATE INDEX order_timeline_occurred_at ON order_timeline (occurred_at);
