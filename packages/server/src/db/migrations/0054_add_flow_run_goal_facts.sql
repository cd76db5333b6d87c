-- What attribution reads of a run whose goal was reached: when the goal happened, when
-- the run's first message to the shopper was sent (null when none had been by then), and
-- whether the goal came before or after it. Only a goal after a message is a conversion.
alter table flow_runs add column if not exists goal_at timestamptz;
alter table flow_runs add column if not exists first_message_at timestamptz;
alter table flow_runs add column if not exists goal_timing text
  check (goal_timing in ('before_first_message', 'after_first_message'));
