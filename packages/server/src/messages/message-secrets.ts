import { createHmac, randomBytes } from "node:crypto";
import webPush from "web-push";
import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import { constantTimeEqual, type Signer } from "@herald/core/messages/tracking";
import type { Queryable } from "../db/database.ts";
import {
  getSecrets,
  insertSecrets,
  type SecretsRow,
} from "./message-secrets.sql.ts";

/**
 * Delivery's per-workspace secrets, made on first use and cached: the key that signs
 * tracking, unsubscribe and webhook-endpoint tokens, the secret that signs outgoing
 * webhooks, and the VAPID key pair for web push. They live in `messaging_secrets`, not
 * in the settings, so the settings API never shows them.
 */
export class MessagingSecrets {
  readonly #db: Queryable;
  readonly #clock: Clock;
  readonly #cache = new Map<string, SecretsRow>();
  /** Loads on their way, so that messages sent together make one query, not one each. */
  readonly #loading = new Map<string, Promise<SecretsRow>>();

  constructor(db: Queryable, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** The workspace's secrets, made now if it has none; `q` is the open transaction, if any. */
  async load(
    workspaceId: string,
    q: Queryable = this.#db,
  ): Promise<SecretsRow> {
    const cached = this.#cache.get(workspaceId);
    if (cached) return cached;
    // Inside a transaction the row may be made there, so it is looked up there.
    if (q !== this.#db) return this.#fetch(workspaceId, q);
    let loading = this.#loading.get(workspaceId);
    if (!loading) {
      loading = this.#fetch(workspaceId, q).finally(() =>
        this.#loading.delete(workspaceId),
      );
      this.#loading.set(workspaceId, loading);
    }
    return loading;
  }

  async #fetch(workspaceId: string, q: Queryable): Promise<SecretsRow> {
    let row = await getSecrets(q, workspaceId);
    if (!row) {
      const vapid = webPush.generateVAPIDKeys();
      await insertSecrets(
        q,
        workspaceId,
        {
          signing_key: randomBytes(32).toString("base64url"),
          webhook_secret: `whsec_${randomBytes(24).toString("base64url")}`,
          vapid_public_key: vapid.publicKey,
          vapid_private_key: vapid.privateKey,
        },
        this.#clock.now(),
      );
      // Another process may have stored its secrets first: theirs are the ones.
      row = await getSecrets(q, workspaceId);
    }
    if (!row) throw new Error(`workspace ${workspaceId} does not exist`);
    this.#cache.set(workspaceId, row);
    return row;
  }

  /** Loads the secrets of a workspace that has them; false when it has none (a forged token's). */
  async loadIfMade(workspaceId: string): Promise<boolean> {
    if (this.#cache.has(workspaceId)) return true;
    const row = await getSecrets(this.#db, workspaceId);
    if (row) this.#cache.set(workspaceId, row);
    return row !== undefined;
  }

  /** Signs for a workspace whose secrets are loaded (see `load`). */
  readonly sign: Signer = (workspaceId, payload) => {
    const row = this.#cache.get(workspaceId);
    if (!row) throw new Error(`secrets of ${workspaceId} are not loaded`);
    return createHmac("sha256", row.signing_key)
      .update(payload)
      .digest("base64url")
      .slice(0, 22);
  };

  /** The token in provider webhook URLs that names and authenticates a workspace. */
  async hookToken(workspaceId: string): Promise<string> {
    await this.load(workspaceId);
    return `${workspaceId}.${this.sign(workspaceId, `hook.${workspaceId}`)}`;
  }

  /** The workspace a provider webhook token stands for, or undefined if forged. */
  async verifyHookToken(token: string): Promise<string | undefined> {
    const m = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{22})$/.exec(token);
    if (!m?.[1] || !m[2]) return undefined;
    const workspaceId = m[1];
    if (!(await this.loadIfMade(workspaceId))) return undefined;
    return constantTimeEqual(
      this.sign(workspaceId, `hook.${workspaceId}`),
      m[2],
    )
      ? workspaceId
      : undefined;
  }
}

/**
 * The workspace a provider webhook's address names; `unauthorized` for an address
 * Herald did not give out.
 */
export async function workspaceOfHook(
  secrets: MessagingSecrets,
  token: string,
): Promise<string> {
  const workspaceId = await secrets.verifyHookToken(token);
  if (!workspaceId)
    throw new DomainError(
      "unauthorized",
      "unknown webhook address: copy it again from GET /api/messages/providers",
    );
  return workspaceId;
}
