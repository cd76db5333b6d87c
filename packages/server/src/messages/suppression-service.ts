import { DomainError } from "@herald/core/domain-error";
import {
  normalizeEmail,
  normalizePhone,
} from "@herald/core/identity/identifiers";
import { reachabilityChanged } from "../segments/segment-service.ts";
import type { MessagingDeps } from "./messaging-deps.ts";
import {
  deleteSuppression,
  listSuppressions,
  upsertSuppression,
} from "./suppressions.sql.ts";

/**
 * Suppressions by hand: an operator stops every message (marketing and transactional) to
 * an address, or lifts a suppression; segments that depend on reachability re-evaluate
 * in the same transaction.
 */

/** The channels whose addresses can be suppressed. */
export type SuppressibleChannel = "email" | "sms";

/** An address an operator suppresses. */
export interface ManualSuppression {
  channel: SuppressibleChannel;
  address: string;
  detail?: string | undefined;
}

/** The workspace's suppressed addresses, newest first. */
export async function listSuppressedAddresses(
  deps: Pick<MessagingDeps, "db">,
  workspaceId: string,
  limit: number,
): Promise<Record<string, unknown>[]> {
  return listSuppressions(deps.db, workspaceId, limit);
}

/** Suppresses an address by hand; `invalid` when it is not an address of the channel. */
export async function suppressAddress(
  deps: Pick<MessagingDeps, "db" | "clock">,
  workspaceId: string,
  s: ManualSuppression,
): Promise<void> {
  const address = normalizeAddress(s.channel, s.address);
  const now = deps.clock.now();
  await deps.db.tx(async (tx) => {
    await upsertSuppression(
      tx,
      workspaceId,
      {
        channel: s.channel,
        address,
        reason: "manual",
        source: "api",
        detail: s.detail,
      },
      now,
    );
    await reachabilityChanged(tx, workspaceId, {
      channel: s.channel,
      address,
      now,
    });
  });
}

/** Lifts a suppression; `not_found` when the address was not suppressed. */
export async function liftSuppression(
  deps: Pick<MessagingDeps, "db" | "clock">,
  workspaceId: string,
  s: { channel: SuppressibleChannel; address: string },
): Promise<void> {
  const address = normalizeAddress(s.channel, s.address);
  const now = deps.clock.now();
  const lifted = await deps.db.tx(async (tx) => {
    if (!(await deleteSuppression(tx, workspaceId, s.channel, address)))
      return false;
    await reachabilityChanged(tx, workspaceId, {
      channel: s.channel,
      address,
      now,
    });
    return true;
  });
  if (!lifted)
    throw new DomainError("not_found", `${address} is not suppressed`);
}

/** An address in its normal form for the channel; `invalid` when it is none. */
function normalizeAddress(
  channel: SuppressibleChannel,
  address: string,
): string {
  const normal =
    channel === "email" ? normalizeEmail(address) : normalizePhone(address);
  if (!normal)
    throw new DomainError(
      "invalid",
      `${address} is not ${channel === "email" ? "an email address" : "an E.164 phone number"}`,
      [{ path: "/address", message: "is invalid" }],
    );
  return normal;
}
