-- Deadlines (docs/events.md: OrderExpired, ShipmentOverdue): an order's payment due time,
-- its shipping promise once paid, whether it was flagged overdue, and when it expired.
-- Orders placed before deadlines existed keep nulls and `overdue` false.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled', 'expired'));
ALTER TABLE orders
    ADD COLUMN payment_due_at timestamptz,
    ADD COLUMN ship_by        timestamptz,
    ADD COLUMN overdue        boolean NOT NULL DEFAULT false,
    ADD COLUMN expired_at     timestamptz;
