-- What recommendations are computed from, kept current by the event processor.

-- Pair counts: products bought in one order ('bought'), products viewed by one shopper
-- ('viewed'), and categories bought in one order ('category'). Both directions are stored
-- (a → b and b → a), so a lookup reads one index range.
create table product_affinities (
  workspace_id text not null references workspaces (id) on delete cascade,
  kind text not null check (kind in ('bought', 'viewed', 'category')),
  item text not null,
  other text not null,
  count integer not null,
  updated_at timestamptz not null,
  primary key (workspace_id, kind, item, other)
);

-- Units and orders per product and day, for bestsellers and trending.
create table product_sales_daily (
  workspace_id text not null references workspaces (id) on delete cascade,
  product_id text not null,
  day date not null,
  units integer not null,
  orders integer not null,
  primary key (workspace_id, product_id, day)
);

create index product_sales_daily_day on product_sales_daily (workspace_id, day);

-- The products each shopper viewed (recently viewed, also-viewed pairs).
create table product_views (
  workspace_id text not null references workspaces (id) on delete cascade,
  profile_id uuid not null,
  product_id text not null,
  first_viewed_at timestamptz not null,
  last_viewed_at timestamptz not null,
  views integer not null,
  primary key (workspace_id, profile_id, product_id)
);

create index product_views_recent on product_views (workspace_id, profile_id, last_viewed_at);
