-- Providers' rate-limit budgets, shared by every sender process of the database: the token
-- bucket and per-minute counts of `providers/rate-limit.ts`, taken under this row's lock in
-- the claim's transaction. `limits_key` names the limits the state was made for.
create table delivery_budgets (
  workspace_id text not null references workspaces (id) on delete cascade,
  channel text not null,
  limits_key text,
  state jsonb,
  primary key (workspace_id, channel)
);
