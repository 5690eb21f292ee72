-- Sales read models. `sales_orders` and `sales_order_lines` are the sales projection's own
-- facts per order (guarded by version, so replays change nothing); the reports below are
-- recomputed from those facts for the keys a batch touched, never incremented blindly.
CREATE TABLE sales_orders (
    order_id         uuid        PRIMARY KEY,
    customer_id      text        NOT NULL,
    currency         char(3)     NOT NULL,
    status           text        NOT NULL,
    total_minor      bigint      NOT NULL,
    refund_due_minor bigint,
    placed_at        timestamptz NOT NULL,
    paid_at          timestamptz,
    cancelled_at     timestamptz,
    version          bigint      NOT NULL
);
CREATE INDEX sales_orders_customer ON sales_orders (customer_id, currency);
CREATE INDEX sales_orders_placed_day ON sales_orders (((placed_at AT TIME ZONE 'UTC')::date), currency);
CREATE INDEX sales_orders_paid_day ON sales_orders (((paid_at AT TIME ZONE 'UTC')::date), currency);
CREATE INDEX sales_orders_cancelled_day ON sales_orders (((cancelled_at AT TIME ZONE 'UTC')::date), currency);

CREATE TABLE sales_order_lines (
    order_id         uuid   NOT NULL REFERENCES sales_orders (order_id) ON DELETE CASCADE,
    sku              text   NOT NULL,
    quantity         integer NOT NULL,
    line_total_minor bigint NOT NULL,
    PRIMARY KEY (order_id, sku)
);
CREATE INDEX sales_order_lines_sku ON sales_order_lines (sku);

-- Per customer and currency. Lifetime value counts paid orders that were not cancelled.
CREATE TABLE customer_stats (
    customer_id          text        NOT NULL,
    currency             char(3)     NOT NULL,
    orders               bigint      NOT NULL,
    open_orders          bigint      NOT NULL,
    lifetime_value_minor bigint      NOT NULL,
    first_order_at       timestamptz NOT NULL,
    last_order_at        timestamptz NOT NULL,
    PRIMARY KEY (customer_id, currency)
);

-- Per UTC day and currency: orders placed that day, revenue paid that day (orders not
-- cancelled since), cancellations that day and the refunds they made due.
CREATE TABLE daily_sales (
    day               date    NOT NULL,
    currency          char(3) NOT NULL,
    orders_placed     bigint  NOT NULL,
    revenue_minor     bigint  NOT NULL,
    cancellations     bigint  NOT NULL,
    refunds_due_minor bigint  NOT NULL,
    PRIMARY KEY (day, currency)
);

-- Per SKU and currency: units and revenue of paid orders that were not cancelled.
CREATE TABLE product_sales (
    sku           text    NOT NULL,
    currency      char(3) NOT NULL,
    units         bigint  NOT NULL,
    revenue_minor bigint  NOT NULL,
    PRIMARY KEY (sku, currency)
);
