-- Live segments: definitions, current members, the history of entries and exits, and the
-- per-profile timers that re-check a membership at the moment a time window flips it.
create table segments (
  workspace_id text not null references workspaces (id) on delete cascade,
  id text not null,
  name text not null,
  description text not null default '',
  definition jsonb not null,
  version integer not null default 1,
  -- computing (members being recomputed in batches) → ready | failed.
  status text not null check (status in ('computing', 'ready', 'failed')),
  -- Progress of the computation: profiles done of total, and the last profile id done.
  processed bigint not null default 0,
  total bigint not null default 0,
  cursor uuid,
  -- Whether the running computation records its changes as (silent) events: not on creation.
  emit_changes boolean not null default false,
  error text,
  -- Values frozen at computation (RFM cut points), shared by bulk and incremental evaluation.
  params jsonb not null default '{}'::jsonb,
  -- When the segment must be computed again (RFM cut points age), if ever.
  refresh_at timestamptz,
  computed_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (workspace_id, id)
);

create unique index segments_name on segments (workspace_id, lower(name));
create index segments_due on segments (status, refresh_at);

-- Bumped whenever segments, tag rules or scoring rules change, so event processors know
-- when to reload them (one cheap read per batch instead of reparsing every definition).
create table segment_catalog (
  workspace_id text primary key references workspaces (id) on delete cascade,
  version bigint not null default 0
);

create table segment_members (
  workspace_id text not null,
  segment_id text not null,
  profile_id uuid not null,
  entered_at timestamptz not null,
  primary key (workspace_id, segment_id, profile_id),
  foreign key (workspace_id, segment_id) references segments (workspace_id, id) on delete cascade
);

create index segment_members_profile on segment_members (workspace_id, profile_id);

-- Every entry and exit, with when and why (event, time, computation, membership, merge).
create table segment_history (
  workspace_id text not null,
  id bigint generated always as identity,
  segment_id text not null,
  profile_id uuid not null,
  change text not null check (change in ('entered', 'exited')),
  cause text not null,
  at timestamptz not null,
  primary key (workspace_id, id),
  foreign key (workspace_id, segment_id) references segments (workspace_id, id) on delete cascade
);

create index segment_history_segment on segment_history (workspace_id, segment_id, at);
create index segment_history_profile on segment_history (workspace_id, profile_id, at);

-- The next instant a profile's membership of a segment may change with no event at all.
create table segment_timers (
  workspace_id text not null,
  segment_id text not null,
  profile_id uuid not null,
  wake_at timestamptz not null,
  primary key (workspace_id, segment_id, profile_id),
  foreign key (workspace_id, segment_id) references segments (workspace_id, id) on delete cascade
);

create index segment_timers_due on segment_timers (wake_at);

-- Behaviour conditions aggregate one profile's events of a few names (incremental) or a
-- range of profiles' events of a few names (bulk): both read this index.
create index events_name_profile on events (workspace_id, name, profile_id, timestamp);

-- A JSON string holding an ISO 8601 date or date-time as an instant (date-only and
-- offset-less values read as UTC; impossible days such as 31 April are not dates); null for
-- anything else. Mirrors parseDateValue in core.
create function herald_json_time(value jsonb) returns timestamptz
language plpgsql immutable as $$
declare
  m text[];
  y integer;
  mo integer;
  d integer;
  minutes integer := 0;
begin
  if value is null or jsonb_typeof(value) <> 'string' then
    return null;
  end if;
  m := regexp_match(value #>> '{}', '^([1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{1,3}))?)?(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?$');
  if m is null then
    return null;
  end if;
  y := m[1]::integer;
  mo := m[2]::integer;
  d := m[3]::integer;
  if d > extract(day from make_date(y, mo, 1) + interval '1 month' - interval '1 day') then
    return null;
  end if;
  if m[8] is not null and m[8] <> 'Z' then
    minutes := (substr(m[8], 2, 2)::integer * 60 + substr(m[8], 5, 2)::integer)
               * (case when left(m[8], 1) = '-' then -1 else 1 end);
  end if;
  return make_timestamptz(y, mo, d, coalesce(m[4], '0')::integer, coalesce(m[5], '0')::integer,
                          coalesce(m[6], '0')::integer + rpad(coalesce(m[7], '0'), 3, '0')::integer / 1000.0,
                          'UTC')
         - make_interval(mins => minutes);
end
$$;

-- The next anniversary (UTC calendar date) of `value` on or after the UTC date of `now`;
-- 29 February falls on 1 March in other years. Mirrors nextAnniversary in core.
create function herald_next_anniversary(value timestamptz, now timestamptz) returns date
language plpgsql immutable as $$
declare
  today date := (now at time zone 'UTC')::date;
  m integer := extract(month from value at time zone 'UTC');
  d integer := extract(day from value at time zone 'UTC');
  a date;
begin
  if value is null then
    return null;
  end if;
  a := make_date(extract(year from today)::integer, m, 1) + (d - 1);
  if a < today then
    a := make_date(extract(year from today)::integer + 1, m, 1) + (d - 1);
  end if;
  return a;
end
$$;

-- A JSON number, or a JSON string holding a plain decimal number, as numeric; else null.
-- Mirrors numericValue in core.
create function herald_json_number(value jsonb) returns numeric
language sql immutable as $$
  select case jsonb_typeof(value)
           when 'number' then value::numeric
           when 'string' then case when (value #>> '{}') ~ '^-?[0-9]+(\.[0-9]+)?$'
                                   then (value #>> '{}')::numeric end
         end
$$;

-- Text with ASCII letters lower-cased and every other character kept, as core's asciiLower.
create function herald_ascii_lower(value text) returns text
language sql immutable as $$
  select translate(value, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
$$;
