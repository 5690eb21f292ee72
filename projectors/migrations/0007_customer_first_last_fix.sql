-- Up to 0006, a batch holding several orders of one customer moved first_order_at and
-- last_order_at by the batch's last order only (`orderlog verify` found it). The per-order
-- facts are right, so the two columns are recomputed from them once.
UPDATE customer_stats c
SET first_order_at = s.first_order_at, last_order_at = s.last_order_at
FROM (SELECT customer_id, currency, min(placed_at) AS first_order_at, max(placed_at) AS last_order_at
      FROM sales_orders GROUP BY customer_id, currency) s
WHERE c.customer_id = s.customer_id AND c.currency = s.currency
  AND (c.first_order_at, c.last_order_at) IS DISTINCT FROM (s.first_order_at, s.last_order_at);
