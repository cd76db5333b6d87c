-- Tags on profiles, set by the API, flows and tag rules, and the rules themselves.
create table profile_tags (
  workspace_id text not null references workspaces (id) on delete cascade,
  profile_id uuid not null,
  tag text not null,
  source text not null,
  added_at timestamptz not null,
  primary key (workspace_id, profile_id, tag)
);

create index profile_tags_tag on profile_tags (workspace_id, tag, profile_id);

-- When an event named `event` matching `filters` is processed, add or remove `tag`.
create table tag_rules (
  workspace_id text not null references workspaces (id) on delete cascade,
  id text not null,
  event text not null,
  filters jsonb not null default '[]'::jsonb,
  action text not null check (action in ('add', 'remove')),
  tag text not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (workspace_id, id)
);
