import type { Queryable, Tx } from "../db/database.ts";

// Telegram chats linked to profiles (`telegram_chats`): one chat per profile, one profile
// per chat.

/** A chat to link to a profile. */
export interface TelegramLink {
  profileId: string;
  chatId: string;
  username: string | null;
  now: Date;
}

/**
 * Links a chat to a profile, replacing the profile's earlier chat; the chat's link to
 * another profile is removed first (`unlinkTelegramChat`).
 */
export async function upsertTelegramChat(
  tx: Tx,
  workspaceId: string,
  link: TelegramLink,
): Promise<void> {
  await tx.query(
    `insert into telegram_chats (workspace_id, profile_id, chat_id, username, linked_at)
     values ($1, $2, $3, $4, $5)
     on conflict (workspace_id, profile_id) do update
       set chat_id = excluded.chat_id, username = excluded.username, linked_at = excluded.linked_at`,
    [workspaceId, link.profileId, link.chatId, link.username, link.now],
  );
}

/** The profile a Telegram chat is linked to. */
export async function findTelegramProfile(
  q: Queryable,
  workspaceId: string,
  chatId: string,
): Promise<string | undefined> {
  const [row] = await q.query<{ profile_id: string }>(
    "select profile_id from telegram_chats where workspace_id = $1 and chat_id = $2",
    [workspaceId, chatId],
  );
  return row?.profile_id;
}

/** Unlinks a Telegram chat (the shopper sent /stop or blocked the bot). */
export async function unlinkTelegramChat(
  q: Queryable,
  workspaceId: string,
  chatId: string,
): Promise<void> {
  await q.query(
    "delete from telegram_chats where workspace_id = $1 and chat_id = $2",
    [workspaceId, chatId],
  );
}

/**
 * Moves a merged profile's chat to the survivor unless the survivor has one
 * (`deleteTelegramChatsOf` then drops the merged profile's chat that stayed).
 */
export async function rekeyTelegramChat(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    `update telegram_chats set profile_id = $3 where workspace_id = $1 and profile_id = $2
        and not exists (select 1 from telegram_chats where workspace_id = $1 and profile_id = $3)`,
    [workspaceId, from, to],
  );
}

/** Profiles' linked chats as the privacy export shows them. */
export async function exportTelegramChats(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<Record<string, unknown>[]> {
  return q.query(
    "select chat_id, username, linked_at from telegram_chats where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}

/** Unlinks profiles' chats (a merged profile's leftover, privacy erasure). */
export async function deleteTelegramChatsOf(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from telegram_chats where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
