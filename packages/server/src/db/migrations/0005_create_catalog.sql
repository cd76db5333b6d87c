-- The store's catalog, with price and stock history for price-drop and restock triggers.
create table products (
  workspace_id text not null references workspaces (id) on delete cascade,
  product_id text not null,
  name text not null,
  url text,
  image_url text,
  category text,
  brand text,
  price numeric(16, 2),
  compare_at_price numeric(16, 2),
  currency text,
  -- Sum of the variants' stock; null when stock is not tracked.
  stock integer,
  days_of_use_per_unit real,
  status text not null default 'active' check (status in ('active', 'draft', 'archived')),
  attributes jsonb not null default '{}'::jsonb,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (workspace_id, product_id)
);

create index products_category on products (workspace_id, category);

create table product_variants (
  workspace_id text not null,
  product_id text not null,
  variant_id text not null,
  sku text,
  name text,
  price numeric(16, 2),
  compare_at_price numeric(16, 2),
  stock integer,
  inventory_item_id text,
  updated_at timestamptz not null,
  primary key (workspace_id, product_id, variant_id),
  foreign key (workspace_id, product_id) references products (workspace_id, product_id) on delete cascade
);

create index product_variants_inventory on product_variants (workspace_id, inventory_item_id)
  where inventory_item_id is not null;

-- Price and stock history: one row per change of a product or variant.
create table catalog_changes (
  workspace_id text not null references workspaces (id) on delete cascade,
  id bigint generated always as identity,
  product_id text not null,
  variant_id text,
  kind text not null check (kind in ('price', 'stock')),
  old_value numeric(16, 2),
  new_value numeric(16, 2),
  changed_at timestamptz not null,
  primary key (workspace_id, id)
);

create index catalog_changes_product on catalog_changes (workspace_id, product_id, changed_at);
