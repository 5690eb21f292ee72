-- Sums of money over many orders outgrow bigint: one order may total 10^15 minor units, so
-- 9,224 such orders overflowed a day's revenue, a customer's lifetime value or a product's
-- revenue, and the projection stopped. They are numeric now (exact, 38 digits).
ALTER TABLE customer_stats ALTER COLUMN lifetime_value_minor TYPE numeric(38, 0);
ALTER TABLE daily_sales ALTER COLUMN revenue_minor TYPE numeric(38, 0),
                        ALTER COLUMN refunds_due_minor TYPE numeric(38, 0);
ALTER TABLE product_sales ALTER COLUMN revenue_minor TYPE numeric(38, 0);
