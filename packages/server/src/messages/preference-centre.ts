import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import {
  listLists,
  listStatusesOf,
  setListStatus,
} from "../lists/lists.sql.ts";
import { getProfileRow } from "../profiles/profiles.sql.ts";
import { changeConsent } from "./consent-service.ts";
import {
  deletePreferencePauses,
  upsertPreferencePause,
} from "./consent.sql.ts";
import { unsubscribeRecipient } from "./message-ledger.ts";
import type { MessageRow } from "./messages.sql.ts";
import type { MessagingDeps } from "./messaging-deps.ts";
import type { Preferences, Unsubscribed } from "./preference-pages.ts";
import { openToken, type Seen } from "./tracking-service.ts";

/**
 * The unsubscribe link of a message (`/u/<token>`): looking changes nothing (mail
 * scanners follow links); `List-Unsubscribe=One-Click` (RFC 8058) unsubscribes at once,
 * from the message's list if it went to one, else from the channel's marketing; the
 * preference centre's form subscribes to or leaves public lists, pauses marketing for 30
 * or 90 days, or unsubscribes from all marketing email.
 */

/** What an unsubscribe link's page or a one-click client posts: text fields. */
export const PreferenceForm = Type.Record(Type.String(), Type.String());
/** What an unsubscribe link's page or a one-click client posts. */
export type PreferenceForm = Type.Static<typeof PreferenceForm>;

/** Why an unsubscribe link does not work, for the shopper. */
const brokenLink =
  "It may have been copied incompletely. Use the unsubscribe link of a more recent message, or reply to it and ask to be removed.";

/** The message of a genuine unsubscribe token; `not_found` otherwise. */
async function messageOf(
  deps: Pick<MessagingDeps, "db" | "messaging">,
  token: string,
): Promise<MessageRow> {
  const found = await openToken(deps, token, "u");
  if (!found) throw new DomainError("not_found", brokenLink);
  return found.row;
}

/** What the preference centre of an unsubscribe link shows. */
export async function getPreferences(
  deps: Pick<MessagingDeps, "db" | "settings" | "config" | "messaging">,
  token: string,
): Promise<Preferences> {
  const { db } = deps;
  const row = await messageOf(deps, token);
  const settings = await deps.settings.get(row.workspace_id);
  const profile = await getProfileRow(db, row.workspace_id, row.profile_id);
  const lists = (await listLists(db, row.workspace_id)).filter((l) => l.public);
  const statuses = await listStatusesOf(db, row.workspace_id, row.profile_id);
  return {
    storeName: settings.storeName,
    address: row.recipient ?? profile?.email ?? "your address",
    listName: row.list_id
      ? (lists.find((l) => l.id === row.list_id)?.name ?? row.list_id)
      : undefined,
    lists,
    statuses,
    unsubscribedAll: profile?.consent.email?.status === "unsubscribed",
    action: `${deps.config.publicUrl}/u/${token}`,
  };
}

/** What a post to an unsubscribe link did. */
export type PreferenceAnswer =
  | { kind: "one-click" }
  | { kind: "unsubscribed"; page: Unsubscribed }
  | { kind: "saved"; preferencesUrl: string };

/**
 * Answers a post to an unsubscribe link: one-click or the page's unsubscribe button
 * unsubscribes; the preference form is saved; anything else is `invalid`.
 */
export async function answerPreferenceForm(
  deps: Pick<
    MessagingDeps,
    "db" | "clock" | "settings" | "config" | "messaging"
  >,
  token: string,
  post: { form: PreferenceForm; seen: Seen },
): Promise<PreferenceAnswer> {
  const { form } = post;
  const row = await messageOf(deps, token);
  const now = deps.clock.now();
  const settings = await deps.settings.get(row.workspace_id);
  const preferencesUrl = `${deps.config.publicUrl}/u/${token}`;
  const oneClick = form["List-Unsubscribe"] === "One-Click";
  if (oneClick || form.action === "unsubscribe") {
    const result = await deps.db.tx((tx) =>
      unsubscribeRecipient(tx, row, {
        how: oneClick ? "one-click" : "unsubscribe page",
        at: now,
        seen: post.seen,
      }),
    );
    if (oneClick) return { kind: "one-click" };
    return {
      kind: "unsubscribed",
      page: {
        storeName: settings.storeName,
        listName:
          result.scope === "list"
            ? (result.listName ?? row.list_id ?? "")
            : undefined,
        channel: row.channel,
        preferencesUrl,
      },
    };
  }
  if (form.action === "preferences") {
    await savePreferences(deps, row, { form, now });
    return { kind: "saved", preferencesUrl };
  }
  throw new DomainError(
    "invalid",
    "post List-Unsubscribe=One-Click, or use the page's buttons",
    [{ path: "/body", message: "unknown action" }],
  );
}

/** Applies the preference centre's form: lists, pause, all. */
async function savePreferences(
  deps: Pick<MessagingDeps, "db">,
  row: MessageRow,
  change: { form: PreferenceForm; now: Date },
): Promise<void> {
  const { db } = deps;
  const { form, now } = change;
  const ws = row.workspace_id;
  const lists = (await listLists(db, ws)).filter((l) => l.public);
  const statuses = await listStatusesOf(db, ws, row.profile_id);
  const profile = await getProfileRow(db, ws, row.profile_id);
  await db.tx(async (tx) => {
    for (const list of lists) {
      if (form[`shown_${list.id}`] !== "1") continue;
      const wanted = form[`list_${list.id}`] === "on";
      const current = statuses.get(list.id);
      if (wanted && current !== "subscribed")
        await setListStatus(tx, ws, list.id, {
          profileIds: [row.profile_id],
          status: "subscribed",
          source: "preference centre",
          at: now,
        });
      if (!wanted && current === "subscribed")
        await setListStatus(tx, ws, list.id, {
          profileIds: [row.profile_id],
          status: "unsubscribed",
          source: "preference centre",
          at: now,
        });
    }
    const days = Number(form.pause ?? "0");
    if (days > 0)
      await upsertPreferencePause(
        tx,
        ws,
        row.profile_id,
        new Date(now.getTime() + Math.min(days, 365) * 86_400_000),
      );
    else await deletePreferencePauses(tx, ws, [row.profile_id]);
    const current = profile?.consent.email?.status;
    if (form.all === "unsubscribe" && current !== "unsubscribed")
      await changeConsent(tx, ws, {
        profileId: row.profile_id,
        channel: "email",
        status: "unsubscribed",
        source: "preference centre",
        at: now,
        properties: { email_id: row.id },
      });
    if (form.all !== "unsubscribe" && current === "unsubscribed")
      await changeConsent(tx, ws, {
        profileId: row.profile_id,
        channel: "email",
        status: "subscribed",
        source: "preference centre",
        at: now,
        properties: { email_id: row.id },
      });
  });
}
