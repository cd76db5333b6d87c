-- An order whose event gives no amount that is a number has an unknown revenue (null):
-- it counts as an order, but stays out of revenue sums and of the average order value,
-- whose divisor is `valued_order_count` (the orders whose amount is known).
alter table orders alter column revenue drop not null;
alter table orders alter column revenue drop default;
alter table profiles add column if not exists valued_order_count integer not null default 0;
update profiles set valued_order_count = order_count where valued_order_count <> order_count;
