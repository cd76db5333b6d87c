-- One profile per shopper, the identifiers that point at it, and the record of merges.
create table profiles (
  workspace_id text not null references workspaces (id) on delete cascade,
  id uuid not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  -- Set when this profile was merged into another; the row stays so old ids resolve.
  merged_into uuid,
  -- Contact addresses: the latest valid email (lower-case) and phone (E.164) seen.
  email text,
  phone text,
  traits jsonb not null default '{}'::jsonb,
  -- Per trait, the event time of its current value: traits are last-write-wins by event time.
  trait_times jsonb not null default '{}'::jsonb,
  -- Per channel: {"status": "subscribed"|"unsubscribed"|"pending", "at": ..., "source": ...}.
  consent jsonb not null default '{}'::jsonb,
  -- Computed attributes kept by the event processor.
  first_seen_at timestamptz,
  last_seen_at timestamptz,
  order_count integer not null default 0,
  revenue numeric(16, 2) not null default 0,
  first_order_at timestamptz,
  last_order_at timestamptz,
  avg_days_between_orders real,
  expected_next_order_at timestamptz,
  time_zone text,
  locale text,
  country text,
  city text,
  -- Further computed attributes: last product / category viewed, ...
  computed jsonb not null default '{}'::jsonb,
  primary key (workspace_id, id)
);

create index profiles_email on profiles (workspace_id, email) where email is not null;
create index profiles_phone on profiles (workspace_id, phone) where phone is not null;

-- Identifier → profile. One owner per identifier; many identifiers per profile.
create table identities (
  workspace_id text not null references workspaces (id) on delete cascade,
  type text not null,
  value text not null,
  profile_id uuid not null,
  created_at timestamptz not null,
  last_seen_at timestamptz not null,
  primary key (workspace_id, type, value)
);

create index identities_profile on identities (workspace_id, profile_id);

-- Every merge, with what caused it.
create table profile_merges (
  workspace_id text not null references workspaces (id) on delete cascade,
  id bigint generated always as identity,
  survivor_id uuid not null,
  merged_id uuid not null,
  reason text not null,
  event_message_id text,
  identifiers jsonb not null default '[]'::jsonb,
  merged_at timestamptz not null,
  primary key (workspace_id, id)
);

create index profile_merges_survivor on profile_merges (workspace_id, survivor_id);
