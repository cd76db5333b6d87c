-- Workspaces (one store each) and their API keys, stored as SHA-256 hashes.
create table workspaces (
  id text primary key,
  name text not null,
  settings jsonb not null default '{}'::jsonb,
  created_at timestamptz not null
);

create table api_keys (
  workspace_id text not null references workspaces (id) on delete cascade,
  id text not null,
  kind text not null check (kind in ('write', 'secret')),
  name text not null,
  hash text not null,
  prefix text not null,
  created_at timestamptz not null,
  revoked_at timestamptz,
  primary key (workspace_id, id)
);

create unique index api_keys_hash on api_keys (hash);
