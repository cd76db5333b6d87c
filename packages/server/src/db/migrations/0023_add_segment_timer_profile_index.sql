-- Incremental evaluation reads a batch of profiles' timers across all segments.
create index segment_timers_profile on segment_timers (workspace_id, profile_id);
