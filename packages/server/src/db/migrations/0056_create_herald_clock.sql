-- The clock a database was used with: its time scale (HERALD_TIME_SCALE) and the latest
-- reading of that clock, so a start at another scale is refused and a demo's fast clock
-- goes on from where it was instead of jumping back to the wall clock.
create table if not exists herald_clock (
  id boolean primary key default true check (id),
  time_scale double precision not null,
  last_reading timestamptz not null
);
