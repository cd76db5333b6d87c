-- Flows, their immutable published versions, and runs: one row per shopper in a flow,
-- which is also the flow scheduler's work queue (wake_at).
create table flows (
  workspace_id text not null references workspaces (id) on delete cascade,
  id text not null,
  name text not null,
  status text not null default 'draft' check (status in ('draft', 'live', 'paused', 'archived')),
  draft jsonb not null,
  current_version integer,
  library_name text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (workspace_id, id)
);

create table flow_versions (
  workspace_id text not null,
  flow_id text not null,
  version integer not null,
  definition jsonb not null,
  published_at timestamptz not null,
  primary key (workspace_id, flow_id, version),
  foreign key (workspace_id, flow_id) references flows (workspace_id, id) on delete cascade
);

create table flow_runs (
  workspace_id text not null,
  id uuid not null,
  flow_id text not null,
  version integer not null,
  profile_id uuid not null,
  status text not null check (status in ('active', 'waiting', 'completed', 'exited')),
  node_id text not null,
  wake_at timestamptz,
  waiting_for text,
  correlation text,
  context jsonb not null,
  visits jsonb not null default '{}'::jsonb,
  -- Every node the run passed, in order: [{"node", "visit", "branch", "at"}] (per-node counts).
  steps jsonb not null default '[]'::jsonb,
  entered_at timestamptz not null,
  updated_at timestamptz not null,
  ended_at timestamptz,
  exit_reason text,
  converted_at timestamptz,
  conversion_revenue numeric(16, 2),
  primary key (workspace_id, id),
  foreign key (workspace_id, flow_id) references flows (workspace_id, id) on delete cascade
);

-- The scheduler's queue: live runs by due time.
create index flow_runs_due on flow_runs (wake_at) where status in ('active', 'waiting');
-- A shopper's live runs, for events that wake or end them.
create index flow_runs_live on flow_runs (workspace_id, profile_id) where status in ('active', 'waiting');
-- Re-entry checks and per-flow listings.
create index flow_runs_flow on flow_runs (workspace_id, flow_id, profile_id, entered_at);

-- Effects done, by key (run:node:visit), so a step done twice acts once.
create table flow_effects (
  workspace_id text not null,
  key text not null,
  run_id uuid not null,
  kind text not null,
  result jsonb,
  done_at timestamptz not null,
  primary key (workspace_id, key)
);

-- When each shopper's date trigger (birthday, anniversary) fires next.
create table flow_date_timers (
  workspace_id text not null,
  flow_id text not null,
  profile_id uuid not null,
  fire_at timestamptz not null,
  primary key (workspace_id, flow_id, profile_id),
  foreign key (workspace_id, flow_id) references flows (workspace_id, id) on delete cascade
);

create index flow_date_timers_due on flow_date_timers (fire_at);

-- Scheduled flows: the next occurrence, and how far its audience has been entered.
create table flow_schedules (
  workspace_id text not null,
  flow_id text not null,
  next_at timestamptz,
  occurrence_at timestamptz,
  after_profile uuid,
  primary key (workspace_id, flow_id),
  foreign key (workspace_id, flow_id) references flows (workspace_id, id) on delete cascade
);

create index flow_schedules_due on flow_schedules (next_at) where next_at is not null;

-- How far catalog-triggered flows have read the catalog's changes.
create table flow_catalog_cursors (
  workspace_id text not null,
  flow_id text not null,
  last_change_id bigint not null,
  primary key (workspace_id, flow_id),
  foreign key (workspace_id, flow_id) references flows (workspace_id, id) on delete cascade
);
