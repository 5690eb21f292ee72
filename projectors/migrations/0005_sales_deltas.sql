-- The sales reports are now maintained by deltas per order change rather than recomputed
-- from the facts, so the per-day indexes that served the recomputation go.
DROP INDEX sales_orders_placed_day;
DROP INDEX sales_orders_paid_day;
DROP INDEX sales_orders_cancelled_day;
