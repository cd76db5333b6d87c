-- Message templates: one row per template, one immutable row per saved version. A version
-- keeps what the author wrote (content) and what was compiled from it once at save
-- (compiled: MJML turned into HTML with the Liquid still inside, the plain-text part).
create table templates (
  workspace_id text not null references workspaces (id) on delete cascade,
  id text not null,
  name text not null,
  channel text not null check (channel in ('email', 'sms', 'push', 'telegram', 'webhook')),
  current_version integer not null,
  archived_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (workspace_id, id)
);

create unique index templates_name on templates (workspace_id, lower(name)) where archived_at is null;

create table template_versions (
  workspace_id text not null,
  template_id text not null,
  version integer not null,
  content jsonb not null,
  compiled jsonb not null,
  created_at timestamptz not null,
  primary key (workspace_id, template_id, version),
  foreign key (workspace_id, template_id) references templates (workspace_id, id) on delete cascade
);

-- Reusable pieces (header, footer, product card) that templates include by name; they are
-- expanded into a version when it is saved, so a later edit never changes a saved version.
create table template_partials (
  workspace_id text not null references workspaces (id) on delete cascade,
  name text not null,
  source text not null,
  updated_at timestamptz not null,
  primary key (workspace_id, name)
);
