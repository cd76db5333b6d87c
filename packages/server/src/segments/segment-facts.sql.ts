import {
  atomKey,
  type Atom,
  type AtomFacts,
} from "@herald/core/segments/atoms";
import type { Queryable } from "../db/database.ts";
import {
  aggregateSources,
  aggregatesOf,
  lazyParam,
  SqlParams,
  type CompileContext,
} from "./segment-compiler.ts";

/**
 * The facts incremental evaluation reads of a batch of profiles: everything they belong
 * to (one query) and the behaviour aggregates of their events and orders (the same SQL as
 * bulk computation).
 */

/** A membership-like fact of a profile. */
export type MembershipFactRow = {
  kind: "segment" | "list" | "tag" | "score" | "timer" | "reach";
  profile_id: string;
  key: string;
  status: string | null;
  value: number | null;
  at: Date | null;
};

/**
 * Everything the profiles belong to — segments, lists, tags, scores — their segment
 * timers, and what delivery knows of reaching them (`reach`, keyed by a `ReachFact`:
 * suppressed address, push subscription, Telegram link), in one query.
 */
export async function membershipFacts(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<MembershipFactRow[]> {
  if (profileIds.length === 0) return [];
  return q.query<MembershipFactRow>(
    // One index probe per profile (a lateral join), whatever the statistics say: with
    // stale ones the planner took `workspace_id = $1` for selective and scanned the
    // workspace's whole membership through the primary key.
    `select f.* from unnest($2::uuid[]) as p(id) cross join lateral (
       select 'segment' as kind, p.id as profile_id, segment_id as key, null as status,
              null::integer as value, null::timestamptz as at
         from segment_members where workspace_id = $1 and profile_id = p.id
       union all
       select 'list', p.id, list_id, status, null, null
         from list_members where workspace_id = $1 and profile_id = p.id
       union all
       select 'tag', p.id, tag, null, null, null
         from profile_tags where workspace_id = $1 and profile_id = p.id
       union all
       select 'score', p.id, score, null, value, null
         from profile_scores where workspace_id = $1 and profile_id = p.id
       union all
       select 'timer', p.id, segment_id, null, null, wake_at
         from segment_timers where workspace_id = $1 and profile_id = p.id
       union all
       select 'reach', p.id, x.channel || '_suppressed', null, null, null
         from profiles r join suppressions x on x.workspace_id = $1
          and ((x.channel = 'email' and x.address = r.email) or (x.channel = 'sms' and x.address = r.phone))
        where r.workspace_id = $1 and r.id = p.id
       union all
       select 'reach', p.id, 'push_subscribed', null, null, null
        where exists (select 1 from push_subscriptions where workspace_id = $1 and profile_id = p.id)
       union all
       select 'reach', p.id, 'telegram_linked', null, null, null
         from telegram_chats where workspace_id = $1 and profile_id = p.id
     ) f`,
    [workspaceId, profileIds],
  );
}

/**
 * The behaviour atoms' figures of the given profiles, aggregated from their events and
 * orders with the same SQL as bulk computation: profile id → atom key → figures.
 */
export async function atomFacts(
  q: Queryable,
  workspaceId: string,
  of: { profileIds: string[]; atoms: Atom[]; now: Date },
): Promise<Map<string, Map<string, AtomFacts>>> {
  const { profileIds, atoms, now } = of;
  const result = new Map<string, Map<string, AtomFacts>>();
  if (profileIds.length === 0 || atoms.length === 0) return result;
  const params = new SqlParams([workspaceId]);
  const ids = params.add(profileIds, "::uuid[]");
  const scope = (column: string) => `${column} = any(${ids})`;
  const ctx: CompileContext = {
    params,
    workspace: "$1",
    now,
    nowSql: lazyParam(params, now, "::timestamptz"),
    scope,
    atom: () => ({ count: "0", oldest: "null", first: "null", last: "null" }),
  };
  const aggregates = aggregatesOf(ctx, atoms);
  const { ctes } = aggregateSources(ctx, aggregates, scope);
  const sources = (["events", "purchases", "coupons"] as const).filter(
    (source) => aggregates[source] !== undefined,
  );
  const alias = { events: "ev", purchases: "pu", coupons: "co" } as const;
  const rows = await q.query<{ source: string; row: Record<string, unknown> }>(
    `with ${ctes.join(",\n")}
     ${sources.map((s) => `select '${s}' as source, to_jsonb(${alias[s]}.*) as row from ${alias[s]}`).join(" union all ")}`,
    params.values,
  );
  const time = (value: unknown) =>
    typeof value === "string" ? new Date(value) : null;
  for (const { source, row } of rows) {
    const profileId = String(row.profile_id);
    let facts = result.get(profileId);
    if (!facts) result.set(profileId, (facts = new Map<string, AtomFacts>()));
    for (const atom of atoms) {
      const column = aggregates.columns.get(atomKey(atom));
      if (!column || column.source !== source) continue;
      const i = column.index;
      facts.set(atomKey(atom), {
        count: Number(row[`n${i}`] ?? 0),
        oldest: time(row[`f${i}`]),
        first: time(row[`f${i}`]),
        last: time(row[`l${i}`]),
      });
    }
  }
  return result;
}
