import type { ListStatus } from "@herald/core/lists/lists";
import {
  capFreesAt,
  decide,
  type Decision,
  type SuppressionReason,
} from "@herald/core/messages/policy";
import type { WorkspaceSettings } from "@herald/core/workspaces/settings";
import type { Tx } from "../db/database.ts";
import { listStatusesOf } from "../lists/lists.sql.ts";
import {
  marketingSentSince,
  type ClaimedRow,
  type RecipientRow,
  type SendingRow,
} from "./send-queue.sql.ts";
import { findSuppressions } from "./suppressions.sql.ts";

/** A workspace's claimed rows as the policy judges them, with its settings and the time. */
export interface ClaimedBatch {
  /** Claimed rows, which bring their profile's facts (`recipientFacts`). */
  rows: ClaimedRow[];
  settings: WorkspaceSettings;
  now: Date;
}

/**
 * What the policy needs to know about a batch of claimed rows of one workspace, gathered
 * in a few queries (recipients, suppressions, marketing sent in the cap's window, list
 * standing), and the decision for each row. `counted` adds a row that goes out to its
 * profile's count, so a batch with several messages to one person respects the cap too.
 */
export async function gatherPolicyFacts(
  tx: Tx,
  workspaceId: string,
  batch: ClaimedBatch,
): Promise<{
  decide(row: SendingRow): { address: string | undefined; decision: Decision };
  counted(row: SendingRow): void;
}> {
  const { rows, settings, now } = batch;
  const recipients = new Map<string, RecipientRow>();
  for (const row of rows)
    if (row.recipientFacts) recipients.set(row.profile_id, row.recipientFacts);
  const addressOf = (row: SendingRow) =>
    addressFor(row, recipients.get(row.profile_id));

  const suppressions = new Map<
    string,
    Awaited<ReturnType<typeof findSuppressions>>
  >();
  for (const channel of new Set(rows.map((r) => r.channel))) {
    const known = new Map<string, SuppressionReason>();
    const others = new Set<string>();
    for (const row of rows) {
      if (row.channel !== channel) continue;
      const address = addressOf(row);
      const p = recipients.get(row.profile_id);
      // The profile's own address came with its row; only other addresses are looked up.
      if (address === undefined || channel === "push") continue;
      else if (channel === "email" && p && address === p.email) {
        if (p.email_suppression) known.set(address, p.email_suppression);
      } else if (channel === "sms" && p && address === p.phone) {
        if (p.phone_suppression) known.set(address, p.phone_suppression);
      } else others.add(address);
    }
    const found = await findSuppressions(tx, workspaceId, channel, [...others]);
    suppressions.set(channel, new Map([...known, ...found]));
  }
  const cap = settings.frequencyCap;
  const capped = (r: SendingRow) =>
    !r.transactional && r.obey_frequency_cap && r.channel !== "webhook";
  const sentInWindow = cap
    ? await marketingSentSince(tx, workspaceId, {
        profileIds: [...new Set(rows.filter(capped).map((r) => r.profile_id))],
        since: new Date(now.getTime() - cap.hours * 3_600_000),
        except: rows.map((r) => r.id),
      })
    : new Map<string, Date[]>();
  const lists = new Map<string, Map<string, ListStatus>>();
  for (const row of rows)
    if (row.list_id && !row.transactional && !lists.has(row.profile_id))
      lists.set(
        row.profile_id,
        await listStatusesOf(tx, workspaceId, row.profile_id),
      );

  return {
    decide(row) {
      const p = recipients.get(row.profile_id);
      const address = addressOf(row);
      if (!p)
        return {
          address,
          decision: {
            action: "skip",
            step: "address",
            reason: "the profile no longer exists",
          },
        };
      if (p.merged_into)
        return {
          address,
          decision: {
            action: "skip",
            step: "address",
            reason: `the profile was merged into ${p.merged_into}`,
          },
        };
      const suppression = address
        ? suppressions.get(row.channel)?.get(address)
        : undefined;
      const sent = sentInWindow.get(row.profile_id) ?? [];
      const decision = decide({
        channel: row.channel,
        transactional: row.transactional,
        now,
        address,
        consent: row.channel === "webhook" ? undefined : p.consent[row.channel],
        consentMode: settings.marketingConsent ?? "explicit",
        ...(p.paused_until ? { pausedUntil: p.paused_until } : {}),
        ...(row.list_id
          ? {
              list: {
                id: row.list_id,
                status: lists.get(row.profile_id)?.get(row.list_id),
              },
            }
          : {}),
        ...(suppression ? { suppression } : {}),
        frequency: {
          cap,
          obey: row.obey_frequency_cap,
          sentInWindow: sent.length,
          freesAt: cap ? capFreesAt(sent, cap) : undefined,
          skipWhenCapped: row.skip_when_capped,
        },
        quietHours: {
          window: settings.quietHours,
          obey: row.obey_quiet_hours,
          timeZone: p.time_zone ?? settings.timeZone,
        },
      });
      return { address, decision };
    },
    counted(row) {
      if (capped(row))
        sentInWindow.set(row.profile_id, [
          ...(sentInWindow.get(row.profile_id) ?? []),
          now,
        ]);
    },
  };
}

/** Where a message goes: the row's explicit address, else the profile's for the channel. */
export function addressFor(
  row: SendingRow,
  p: RecipientRow | undefined,
): string | undefined {
  if (row.to_address) return row.to_address;
  if (!p) return undefined;
  switch (row.channel) {
    case "email":
      return p.email ?? undefined;
    case "sms":
      return p.phone ?? undefined;
    case "push":
      return p.push_subscriptions > 0
        ? `${p.push_subscriptions} browser subscription(s)`
        : undefined;
    case "telegram":
      return p.telegram_chat ?? undefined;
    case "webhook":
      return undefined;
  }
}
