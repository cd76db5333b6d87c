-- The event processor's watermark: every transaction of this database with an id below it
-- has ended, so no event row below it can still appear. Unlike pg_snapshot_xmin, which
-- counts the whole cluster, only this database's sessions hold it back: a long transaction
-- in another database on the same server does not stall event processing. (Herald's own
-- sessions are the only writers of events, and a role always sees its own sessions'
-- backend_xid.) pg_stat_activity gives 32-bit ids; they are widened with the current epoch.
create or replace function herald_event_watermark() returns xid8 language sql stable as $$
  with next as (select pg_snapshot_xmax(pg_current_snapshot())::text::bigint as x),
  running as (
    select a.backend_xid::text::bigint as low from pg_stat_activity a
     where a.datname = current_database() and a.backend_xid is not null and a.pid <> pg_backend_pid()
  )
  select (least(
    (select x from next),
    (select min(case when r.low <= (n.x & 4294967295) then ((n.x >> 32) << 32) | r.low
                     else (((n.x >> 32) - 1) << 32) | r.low end)
       from running r, next n)
  ))::text::xid8
$$;
