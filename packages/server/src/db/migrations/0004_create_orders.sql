-- Orders (one row per order id, however many events report it) and their lines.
create table orders (
  workspace_id text not null references workspaces (id) on delete cascade,
  order_id text not null,
  profile_id uuid not null,
  checkout_id text,
  cart_id text,
  status text not null default 'placed' check (status in ('placed', 'cancelled', 'refunded')),
  currency text,
  total numeric(16, 2),
  revenue numeric(16, 2) not null default 0,
  subtotal numeric(16, 2),
  tax numeric(16, 2),
  shipping numeric(16, 2),
  discount numeric(16, 2),
  refunded numeric(16, 2) not null default 0,
  coupon text,
  -- Latest fulfilment news: {"status": "fulfilled"|"shipped"|"delivered"|"ready_for_pickup", "tracking_number", "tracking_url", "at"}.
  fulfillment jsonb,
  placed_at timestamptz not null,
  updated_at timestamptz not null,
  message_id text not null,
  primary key (workspace_id, order_id)
);

create index orders_profile on orders (workspace_id, profile_id, placed_at);
create index orders_checkout on orders (workspace_id, checkout_id) where checkout_id is not null;

create table order_items (
  workspace_id text not null,
  order_id text not null,
  line integer not null,
  profile_id uuid not null,
  product_id text,
  variant_id text,
  sku text,
  name text,
  category text,
  brand text,
  price numeric(16, 2),
  quantity integer not null default 1,
  placed_at timestamptz not null,
  primary key (workspace_id, order_id, line),
  foreign key (workspace_id, order_id) references orders (workspace_id, order_id) on delete cascade
);

create index order_items_profile on order_items (workspace_id, profile_id);
create index order_items_product on order_items (workspace_id, product_id);
