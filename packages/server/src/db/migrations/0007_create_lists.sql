-- Static lists and their members' subscription status.
create table lists (
  workspace_id text not null references workspaces (id) on delete cascade,
  id text not null,
  name text not null,
  description text not null default '',
  public boolean not null default true,
  double_opt_in boolean not null default false,
  created_at timestamptz not null,
  primary key (workspace_id, id)
);

create unique index lists_name on lists (workspace_id, lower(name));

create table list_members (
  workspace_id text not null,
  list_id text not null,
  profile_id uuid not null,
  status text not null check (status in ('subscribed', 'unsubscribed', 'pending')),
  source text not null default 'api',
  subscribed_at timestamptz,
  updated_at timestamptz not null,
  primary key (workspace_id, list_id, profile_id),
  foreign key (workspace_id, list_id) references lists (workspace_id, id) on delete cascade
);

create index list_members_profile on list_members (workspace_id, profile_id);
