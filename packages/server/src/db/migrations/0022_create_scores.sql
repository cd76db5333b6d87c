-- Named lead scores, the rules that award points, the points (which may expire) and each
-- profile's current total.
create table scores (
  workspace_id text not null references workspaces (id) on delete cascade,
  name text not null,
  description text not null default '',
  -- Totals that emit `Score Threshold Reached` when a profile's score rises to them.
  thresholds jsonb not null default '[]'::jsonb,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (workspace_id, name)
);

create table score_rules (
  workspace_id text not null,
  id text not null,
  score text not null,
  event text not null,
  filters jsonb not null default '[]'::jsonb,
  points integer not null,
  -- Points of this rule count for this many days, then expire; null: they never do.
  expires_after_days integer,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (workspace_id, id),
  foreign key (workspace_id, score) references scores (workspace_id, name) on delete cascade
);

create table score_points (
  workspace_id text not null,
  id bigint generated always as identity,
  profile_id uuid not null,
  score text not null,
  points integer not null,
  source text not null,
  awarded_at timestamptz not null,
  expires_at timestamptz,
  primary key (workspace_id, id),
  foreign key (workspace_id, score) references scores (workspace_id, name) on delete cascade
);

create index score_points_profile on score_points (workspace_id, profile_id, score);

create table profile_scores (
  workspace_id text not null,
  profile_id uuid not null,
  score text not null,
  value integer not null,
  -- When the next of the profile's points expire; the timer worker recomputes then.
  next_expiry_at timestamptz,
  updated_at timestamptz not null,
  primary key (workspace_id, profile_id, score),
  foreign key (workspace_id, score) references scores (workspace_id, name) on delete cascade
);

create index profile_scores_expiry on profile_scores (next_expiry_at) where next_expiry_at is not null;
create index profile_scores_value on profile_scores (workspace_id, score, value);
