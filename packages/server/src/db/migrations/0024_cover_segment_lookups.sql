-- Incremental evaluation reads a batch of profiles' memberships and timers: let both come
-- from the index alone instead of one table page per row.
drop index segment_members_profile;
create index segment_members_profile on segment_members (workspace_id, profile_id) include (segment_id, entered_at);
drop index segment_timers_profile;
create index segment_timers_profile on segment_timers (workspace_id, profile_id) include (segment_id, wake_at);
