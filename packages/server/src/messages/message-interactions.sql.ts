import type { Queryable, Tx } from "../db/database.ts";

// What happened to sent messages (`message_interactions`): opens, clicks, bounces,
// complaints, unsubscribes and deliveries, human or not.

/** Records an open, click, bounce, complaint, unsubscribe or delivery of a message. */
export async function insertInteraction(
  tx: Tx,
  workspaceId: string,
  i: {
    messageId: string;
    profileId: string;
    kind: string;
    human: boolean;
    reason?: string | undefined;
    linkIndex?: number | undefined;
    url?: string | undefined;
    userAgent?: string | undefined;
    ip?: string | undefined;
    detail?: unknown;
    at: Date;
  },
): Promise<void> {
  await tx.query(
    `insert into message_interactions (workspace_id, message_id, profile_id, kind, human, reason, link_index,
                                       url, user_agent, ip, detail, at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      workspaceId,
      i.messageId,
      i.profileId,
      i.kind,
      i.human,
      i.reason ?? null,
      i.linkIndex ?? null,
      i.url ?? null,
      i.userAgent?.slice(0, 500) ?? null,
      i.ip ?? null,
      i.detail === undefined ? null : JSON.stringify(i.detail),
      i.at,
    ],
  );
}

/** How many clicks a message had in (since, …], and how many human opens / clicks in all. */
export async function interactionCounts(
  q: Queryable,
  workspaceId: string,
  messageId: string,
  since: Date,
): Promise<{ recentClicks: number; humanOpens: number; humanClicks: number }> {
  const [row] = await q.query<{
    recent_clicks: number;
    human_opens: number;
    human_clicks: number;
  }>(
    `select count(*) filter (where kind = 'click' and at > $3)::int8 as recent_clicks,
            count(*) filter (where kind = 'open' and human)::int8 as human_opens,
            count(*) filter (where kind = 'click' and human)::int8 as human_clicks
       from message_interactions where workspace_id = $1 and message_id = $2`,
    [workspaceId, messageId, since],
  );
  return {
    recentClicks: row?.recent_clicks ?? 0,
    humanOpens: row?.human_opens ?? 0,
    humanClicks: row?.human_clicks ?? 0,
  };
}

/** The interactions of a message, oldest first. */
export async function listInteractions(
  q: Queryable,
  workspaceId: string,
  messageId: string,
): Promise<Record<string, unknown>[]> {
  return q.query(
    `select kind, human, reason, link_index, url, user_agent, ip, detail, at
       from message_interactions where workspace_id = $1 and message_id = $2 order by at, id`,
    [workspaceId, messageId],
  );
}

/** Moves a merged profile's interactions to the survivor. */
export async function rekeyInteractions(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    "update message_interactions set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
}

/** Profiles' interactions as the privacy export shows them, oldest first. */
export async function exportInteractions(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<Record<string, unknown>[]> {
  return q.query(
    `select message_id, kind, human, url, at from message_interactions
      where workspace_id = $1 and profile_id = any($2::uuid[]) order by at`,
    [workspaceId, profileIds],
  );
}

/** Deletes profiles' interactions (privacy erasure). */
export async function deleteInteractionsOf(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from message_interactions where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
