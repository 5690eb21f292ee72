-- Lines without foreign keys to their orders. The projection writes an order and its
-- lines in the same transaction, so the key never dangles; `orderlog verify` checks the
-- rows against the log, a stronger check than the constraint. The constraint cost a
-- lookup per inserted line (about 40% of PostgreSQL's time in the orders projection),
-- and tables rebuilt by `projectors rebuild` (CREATE TABLE ... LIKE) never had it.
ALTER TABLE order_lines DROP CONSTRAINT IF EXISTS order_lines_order_id_fkey;
ALTER TABLE sales_order_lines DROP CONSTRAINT IF EXISTS sales_order_lines_order_id_fkey;
