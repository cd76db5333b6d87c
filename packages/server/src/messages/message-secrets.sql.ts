import type { Queryable } from "../db/database.ts";

// Delivery's per-workspace secrets (`messaging_secrets`).

/** Delivery's secrets of a workspace. */
export type SecretsRow = {
  signing_key: string;
  webhook_secret: string;
  vapid_public_key: string;
  vapid_private_key: string;
};

/** The workspace's secrets, if made. */
export async function getSecrets(
  q: Queryable,
  workspaceId: string,
): Promise<SecretsRow | undefined> {
  const [row] = await q.query<SecretsRow>(
    "select signing_key, webhook_secret, vapid_public_key, vapid_private_key from messaging_secrets where workspace_id = $1",
    [workspaceId],
  );
  return row;
}

/** Stores secrets unless another process stored them first (then theirs stay). */
export async function insertSecrets(
  q: Queryable,
  workspaceId: string,
  secrets: SecretsRow,
  now: Date,
): Promise<void> {
  await q.query(
    `insert into messaging_secrets (workspace_id, signing_key, webhook_secret, vapid_public_key, vapid_private_key, created_at)
     select $1, $2, $3, $4, $5, $6 where exists (select 1 from workspaces where id = $1)
     on conflict (workspace_id) do nothing`,
    [
      workspaceId,
      secrets.signing_key,
      secrets.webhook_secret,
      secrets.vapid_public_key,
      secrets.vapid_private_key,
      now,
    ],
  );
}
