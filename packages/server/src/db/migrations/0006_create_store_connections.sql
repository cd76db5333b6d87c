-- Stores whose platform sends webhooks (Shopify, WooCommerce), and delivered webhook ids.
create table store_connections (
  workspace_id text not null references workspaces (id) on delete cascade,
  platform text not null check (platform in ('shopify', 'woocommerce')),
  -- Shopify: the shop's myshopify.com domain; WooCommerce: the store's host.
  shop text not null,
  secret text not null,
  created_at timestamptz not null,
  primary key (workspace_id, platform)
);

create unique index store_connections_shop on store_connections (platform, shop);

create table webhook_deliveries (
  workspace_id text not null references workspaces (id) on delete cascade,
  platform text not null,
  delivery_id text not null,
  topic text not null,
  received_at timestamptz not null,
  primary key (workspace_id, platform, delivery_id)
);
