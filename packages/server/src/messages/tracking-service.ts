import { DomainError } from "@herald/core/domain-error";
import {
  classifyInteraction,
  parseToken,
  verifyToken,
  type LinkToken,
  type TokenKind,
} from "@herald/core/messages/tracking";
import { recordMessageNews } from "./message-ledger.ts";
import { interactionCounts } from "./message-interactions.sql.ts";
import { getMessageRow, type MessageRow } from "./messages.sql.ts";
import type { MessagingDeps } from "./messaging-deps.ts";

/**
 * What a message's tracking links record when a mail client or browser follows them:
 * opens (the pixel) and clicks (the signed redirect), each judged human or machine
 * (privacy proxies, scanners, bursts across links) before it moves the ledger.
 */

/** Where a link was followed from: the browser's user agent and address. */
export interface Seen {
  userAgent?: string;
  ip?: string;
}

/** The genuine token's content and its message, or undefined (forged, unknown, gone). */
export async function openToken(
  deps: Pick<MessagingDeps, "db" | "messaging">,
  token: string,
  kind: TokenKind,
): Promise<{ t: LinkToken; row: MessageRow } | undefined> {
  const { secrets } = deps.messaging;
  const parsed = parseToken(token);
  if (parsed?.kind !== kind) return undefined;
  if (!(await secrets.loadIfMade(parsed.workspaceId))) return undefined;
  const t = verifyToken(token, secrets.sign);
  if (!t) return undefined;
  const row = await getMessageRow(deps.db, t.workspaceId, t.messageId);
  return row ? { t, row } : undefined;
}

/** Records an open of the message whose pixel this is; a token that is not genuine records nothing. */
export async function recordOpen(
  deps: Pick<MessagingDeps, "db" | "clock" | "messaging">,
  token: string,
  seen: Seen,
): Promise<void> {
  const found = await openToken(deps, token, "o").catch(() => undefined);
  if (!found) return;
  const now = deps.clock.now();
  const verdict = classifyInteraction({
    kind: "open",
    ...seen,
    at: now,
    sentAt: found.row.sent_at,
  });
  await deps.db.tx((tx) =>
    recordMessageNews(tx, {
      workspaceId: found.row.workspace_id,
      message: found.row.id,
      news: "opened",
      human: verdict.human,
      ...(verdict.reason ? { reason: verdict.reason } : {}),
      ...seen,
      at: now,
    }),
  );
}

/**
 * Records a click of a tracked link and resolves to where it leads (the link kept on the
 * ledger row, so no token is an open redirect); `not_found` for a link that is not one.
 */
export async function followClick(
  deps: Pick<MessagingDeps, "db" | "clock" | "messaging">,
  token: string,
  seen: Seen,
): Promise<string> {
  const found = await openToken(deps, token, "c");
  const url = found?.row.links?.[found.t.link];
  if (!found || !url)
    throw new DomainError("not_found", "It may have been copied incompletely.");
  const now = deps.clock.now();
  const counts = await interactionCounts(
    deps.db,
    found.row.workspace_id,
    found.row.id,
    new Date(now.getTime() - 2000),
  );
  const verdict = classifyInteraction({
    kind: "click",
    ...seen,
    at: now,
    sentAt: found.row.sent_at,
    recentClicks: counts.recentClicks,
  });
  await deps.db.tx((tx) =>
    recordMessageNews(tx, {
      workspaceId: found.row.workspace_id,
      message: found.row.id,
      news: "clicked",
      human: verdict.human,
      ...(verdict.reason ? { reason: verdict.reason } : {}),
      linkIndex: found.t.link,
      url,
      ...seen,
      at: now,
    }),
  );
  return url;
}
