import { createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { StoredKey } from "@herald/core/workspaces/workspaces";
import type { Database } from "../db/database.ts";
import { findKeyByHash } from "../workspaces/workspaces.sql.ts";
import { errorBody } from "./errors.ts";

/** Who a request acts for, once its key is checked. */
export interface RequestAuth {
  workspaceId: string;
  keyId: string;
}

declare module "fastify" {
  interface FastifyRequest {
    auth: RequestAuth;
  }
}

const cacheTtlMs = 5_000;

/**
 * Resolves presented keys to stored keys, with a short cache so that every ingest request
 * does not cost a query. A revocation through this process takes effect at once; one made
 * by another process within the cache's 5 seconds.
 */
export class KeyResolver {
  readonly #db: Database;
  readonly #cache = new Map<
    string,
    { key: StoredKey | undefined; until: number }
  >();

  constructor(db: Database) {
    this.#db = db;
  }

  /** The stored key for `presented` (revoked or not), or undefined if unknown. */
  async resolve(presented: string): Promise<StoredKey | undefined> {
    const hash = createHash("sha256").update(presented).digest("hex");
    const cached = this.#cache.get(hash);
    if (cached && cached.until > Date.now()) return cached.key;
    const key = await findKeyByHash(this.#db, hash);
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(hash, { key, until: Date.now() + cacheTtlMs });
    return key;
  }

  /** Drops cached entries for a key that changed. */
  forget(keyId: string): void {
    for (const [hash, entry] of this.#cache)
      if (entry.key?.id === keyId) this.#cache.delete(hash);
  }
}

/**
 * The `/api/*` guard: a secret key as `Authorization: Bearer <key>`. Missing, unknown or
 * revoked keys get 401; a write key gets 403, since it may only send events.
 */
export function requireSecretKey(keys: KeyResolver) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      return reply
        .status(401)
        .send(
          errorBody(
            "unauthorized",
            "missing API key: send the header Authorization: Bearer <secret key>",
          ),
        );
    }
    const key = await keys.resolve(match[1]);
    if (!key)
      return reply
        .status(401)
        .send(errorBody("unauthorized", "unknown API key"));
    if (key.revokedAt) {
      return reply
        .status(401)
        .send(
          errorBody(
            "unauthorized",
            `this API key was revoked at ${key.revokedAt.toISOString()}`,
          ),
        );
    }
    if (key.kind !== "secret") {
      return reply
        .status(403)
        .send(
          errorBody(
            "forbidden",
            "a write key can only send events to /v1/*; use a secret key for /api/*",
          ),
        );
    }
    request.auth = { workspaceId: key.workspaceId, keyId: key.id };
  };
}
