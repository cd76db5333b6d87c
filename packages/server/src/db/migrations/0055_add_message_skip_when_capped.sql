-- A marketing message over the frequency cap waits until the cap allows it, unless its
-- sender asked for it to be skipped instead (a flow send step's `whenCapped: "skip"`).
alter table messages add column if not exists skip_when_capped boolean not null default false;
