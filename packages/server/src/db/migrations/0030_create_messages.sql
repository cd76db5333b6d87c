-- The message ledger: one row per message, written before any provider is called.
create table messages (
  workspace_id text not null references workspaces (id) on delete cascade,
  id uuid not null,
  idempotency_key text not null,
  -- A hash of the request that made the row, to refuse a key reused for another message.
  request_hash text,
  profile_id uuid not null,
  channel text not null check (channel in ('email', 'sms', 'push', 'telegram', 'webhook')),
  transactional boolean not null,
  source jsonb not null,
  source_kind text not null,
  campaign_id text,
  template_id text,
  template_version integer,
  inline_content jsonb,
  data jsonb not null default '{}'::jsonb,
  list_id text,
  obey_frequency_cap boolean not null,
  obey_quiet_hours boolean not null,
  to_address text,
  status text not null check (status in ('queued', 'deferred', 'sending', 'sent', 'delivered', 'opened',
    'clicked', 'bounced', 'complained', 'unsubscribed', 'skipped', 'failed')),
  reason text,
  -- The policy step that decided (consent, list, suppression, frequency_cap, quiet_hours, send).
  decision_step text,
  -- When the row is due (queued, deferred) or was first due.
  send_at timestamptz not null,
  attempts integer not null default 0,
  -- The sender holding a `sending` row, and until when; a row past its lease is resolved.
  claimed_by text,
  lease_until timestamptz,
  -- The address used, the rendered content and its tracked links.
  recipient text,
  content jsonb,
  links jsonb,
  provider text,
  provider_message_id text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  first_sending_at timestamptz,
  sent_at timestamptz,
  delivered_at timestamptz,
  opened_at timestamptz,
  clicked_at timestamptz,
  bounced_at timestamptz,
  complained_at timestamptz,
  unsubscribed_at timestamptz,
  primary key (workspace_id, id)
) with (toast_tuple_target = 256);

-- Content moves out of line, so the status updates of a send (claim, outcome, opens) copy
-- a pointer instead of the message body.
alter table messages alter column inline_content set storage external;
alter table messages alter column data set storage external;
alter table messages alter column content set storage external;

-- Every index costs each status change an insert (the partial ones only while their
-- predicate holds): the list is kept short. Ids are UUIDv7, so the primary key also orders
-- a workspace's messages by time.
create unique index messages_idempotency on messages (workspace_id, idempotency_key);
create index messages_due on messages (send_at, id) where status in ('queued', 'deferred');
create index messages_sending on messages (lease_until) where status = 'sending';
create index messages_profile on messages (workspace_id, profile_id, created_at);
create index messages_provider_id on messages (workspace_id, provider_message_id)
  where provider_message_id is not null;

-- Opens, clicks, bounces, complaints, unsubscribes and deliveries of a message, people's
-- and machines' (flagged with why).
create table message_interactions (
  workspace_id text not null references workspaces (id) on delete cascade,
  id bigint generated always as identity,
  message_id uuid not null,
  profile_id uuid not null,
  kind text not null,
  human boolean not null,
  reason text,
  link_index integer,
  url text,
  user_agent text,
  ip text,
  detail jsonb,
  at timestamptz not null,
  primary key (workspace_id, id)
);

create index message_interactions_message on message_interactions (workspace_id, message_id, at);
create index message_interactions_profile on message_interactions (workspace_id, profile_id);

-- Addresses that get no mail: hard bounces, complaints, and manual entries.
create table suppressions (
  workspace_id text not null references workspaces (id) on delete cascade,
  channel text not null,
  address text not null,
  reason text not null check (reason in ('hard_bounce', 'complaint', 'manual')),
  source text not null,
  detail text,
  created_at timestamptz not null,
  primary key (workspace_id, channel, address)
);

-- Per-workspace secrets delivery makes for itself: the link-signing key, VAPID keys, the
-- webhook signing secret.
create table messaging_secrets (
  workspace_id text primary key references workspaces (id) on delete cascade,
  signing_key text not null,
  webhook_secret text not null,
  vapid_public_key text not null,
  vapid_private_key text not null,
  created_at timestamptz not null
);

-- Browsers' web push subscriptions.
create table push_subscriptions (
  workspace_id text not null references workspaces (id) on delete cascade,
  endpoint text not null,
  profile_id uuid not null,
  p256dh text not null,
  auth text not null,
  user_agent text,
  created_at timestamptz not null,
  primary key (workspace_id, endpoint)
);

create index push_subscriptions_profile on push_subscriptions (workspace_id, profile_id);

-- Telegram chats linked to profiles through the bot's /start deep link.
create table telegram_chats (
  workspace_id text not null references workspaces (id) on delete cascade,
  profile_id uuid not null,
  chat_id text not null,
  username text,
  linked_at timestamptz not null,
  primary key (workspace_id, profile_id)
);

create unique index telegram_chats_chat on telegram_chats (workspace_id, chat_id);

-- "Pause marketing for a while" from the preference centre.
create table preference_pauses (
  workspace_id text not null references workspaces (id) on delete cascade,
  profile_id uuid not null,
  until timestamptz not null,
  primary key (workspace_id, profile_id)
);

-- Providers paused after consecutive errors, until an operator resumes them or `retry_at`.
create table delivery_pauses (
  workspace_id text not null references workspaces (id) on delete cascade,
  channel text not null,
  reason text not null,
  errors integer not null,
  paused_at timestamptz not null,
  retry_at timestamptz not null,
  primary key (workspace_id, channel)
);
