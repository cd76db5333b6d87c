-- The tracking API's intake: events acknowledged to clients and not yet given profiles.
-- One row per workspace per ingest flush (group commit), its events as JSON text written by
-- Herald itself; the ingest resolver moves them to `events` and deletes the row in one
-- transaction (DESIGN.md §3). Rows are short-lived, so their text is stored uncompressed.
create table intake (
  id bigint generated always as identity primary key,
  workspace_id text not null references workspaces (id) on delete cascade,
  received_at timestamptz not null,
  event_count integer not null,
  items text not null
);
alter table intake alter column items set storage external;
