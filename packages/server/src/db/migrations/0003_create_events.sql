-- The append-only event log, consumed by the event processor in per-profile order.
create table events (
  workspace_id text not null references workspaces (id) on delete cascade,
  message_id text not null,
  seq bigint generated always as identity,
  -- The inserting transaction: the processor reads only rows whose transaction is older
  -- than every transaction still running, so no row that commits late is skipped.
  xid xid8 not null default pg_current_xact_id(),
  partition smallint not null,
  profile_id uuid not null,
  type text not null,
  name text,
  user_id text,
  anonymous_id text,
  properties jsonb not null default '{}'::jsonb,
  traits jsonb,
  context jsonb not null default '{}'::jsonb,
  timestamp timestamptz not null,
  received_at timestamptz not null,
  source text not null,
  -- Silent events (history imports) update profiles but fire no triggers.
  silent boolean not null default false,
  primary key (workspace_id, message_id)
);

create index events_queue on events (partition, xid, seq);
create index events_profile on events (workspace_id, profile_id, timestamp);
create index events_name on events (workspace_id, name, timestamp);

-- One cursor per partition; a processing transaction leases its partition (advisory lock).
create table event_cursors (
  partition smallint primary key,
  xid xid8 not null default '0'::xid8,
  seq bigint not null default 0,
  processed bigint not null default 0,
  updated_at timestamptz
);

insert into event_cursors (partition) select generate_series(0, 15);

-- Events the ingest API refused, with why, for the admin API.
create table ingest_errors (
  workspace_id text not null references workspaces (id) on delete cascade,
  id bigint generated always as identity,
  received_at timestamptz not null,
  source text not null,
  endpoint text not null,
  batch_index integer,
  message_id text,
  reason text not null,
  payload text,
  primary key (workspace_id, id)
);

create index ingest_errors_time on ingest_errors (workspace_id, received_at desc);
