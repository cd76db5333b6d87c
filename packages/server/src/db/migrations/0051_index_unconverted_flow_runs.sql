-- Completed runs that have not converted, by shopper: a goal event within the flow's
-- conversion window after the run's end still counts for them.
create index if not exists flow_runs_unconverted on flow_runs (workspace_id, profile_id, ended_at)
  where status = 'completed' and converted_at is null;
