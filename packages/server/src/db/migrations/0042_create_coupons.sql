-- Unique coupon codes: pools (generated or uploaded) and their codes. A code is issued to
-- one profile under one key (the message id that rendered it), once; redemption comes from
-- Order Completed's `coupon`. Segments may read coupon_codes (see DESIGN.md).
create table coupon_pools (
  workspace_id text not null references workspaces (id) on delete cascade,
  id text not null,
  kind text not null check (kind in ('generated', 'uploaded')),
  description text not null default '',
  prefix text not null default '',
  code_length integer not null default 8,
  -- Days a code stays valid after it is issued; null: no expiry of its own.
  expires_after_days integer,
  -- {"type": "percent"|"fixed_amount"|"free_shipping", "amount": 10, "currency": "EUR"}
  value jsonb not null default '{}'::jsonb,
  -- {"minimum_subtotal": 50, "once_per_customer": true, "note": "..."}
  conditions jsonb not null default '{}'::jsonb,
  created_at timestamptz not null,
  primary key (workspace_id, id)
);

create table coupon_codes (
  workspace_id text not null,
  pool_id text not null,
  code text not null,
  -- Upload order: uploaded codes are handed out first-in first-out.
  seq bigint generated always as identity,
  status text not null check (status in ('available', 'issued', 'redeemed')),
  profile_id uuid,
  issue_key text,
  issued_at timestamptz,
  expires_at timestamptz,
  redeemed_at timestamptz,
  order_id text,
  created_at timestamptz not null,
  primary key (workspace_id, code),
  foreign key (workspace_id, pool_id) references coupon_pools (workspace_id, id) on delete cascade
);

create unique index coupon_codes_code_ci on coupon_codes (workspace_id, upper(code));
create unique index coupon_codes_issue_key on coupon_codes (workspace_id, pool_id, issue_key)
  where issue_key is not null;
create index coupon_codes_available on coupon_codes (workspace_id, pool_id, seq) where status = 'available';
create index coupon_codes_profile on coupon_codes (workspace_id, profile_id) where profile_id is not null;
