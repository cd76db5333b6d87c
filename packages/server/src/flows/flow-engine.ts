import type { Clock } from "@herald/core/clock";
import {
  advance,
  type Effect,
  type Run,
  type RunFacts,
  type RunInput,
} from "@herald/core/flows/advance";
import {
  conditionNeeds,
  textOf,
  type FlowEvent,
} from "@herald/core/flows/conditions";
import type { FlowDefinition } from "@herald/core/flows/definition";
import { safeTimeZone } from "@herald/core/flows/schedule";
import { uuidv7 } from "@herald/core/ids";
import type { Profile } from "@herald/core/profiles/profile";
import { issueCoupon } from "../coupons/issue-coupon.ts";
import type { Queryable, Tx } from "../db/database.ts";
import { getVersion, liveFlows } from "./flows.sql.ts";
import {
  claimEffect,
  insertRuns,
  type RecordedStep,
  updateRuns,
} from "./flow-runs.sql.ts";
import { daysOfUseOf, eventsSince } from "./flow-facts.sql.ts";
import { setListStatus } from "../lists/lists.sql.ts";
import { profileRows, toProfile } from "../profiles/profiles.sql.ts";
import {
  crossSellProducts,
  upsellProducts,
} from "../recommendations/recommendations.sql.ts";
import { isInSegment } from "../segments/segment-members.sql.ts";
import type { Logger } from "../logger.ts";
import { appendProfileEvents } from "../events/event-log.ts";
import { enqueueMessages } from "../messages/message-ledger.ts";
import type { EnqueueRequest } from "@herald/core/messages/ledger";
import { addScore } from "../scores/score-service.ts";
import { addTag, removeTag } from "../tags/tag-service.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";

/**
 * The flow engine: the impure half of flows. It starts runs, gathers the facts the pure
 * state machine (`core/flows/advance.ts`) needs, and persists what it decides — the
 * run's new state, the steps taken and the effects — in the caller's transaction, so a
 * step and its effects commit together or not at all. Effects are keyed by run, node and
 * visit (`flow_effects`), and the message ledger keys sends by the same key, so a step
 * repeated after a crash acts once.
 *
 * Used by the event processor (starting runs, waking runs that wait for an event, goals
 * and exits) and by the flow scheduler (due waits, date and schedule triggers).
 */

/** A flow version ready to run. */
export interface LiveFlow {
  id: string;
  version: number;
  definition: FlowDefinition;
}

/** A run to advance, with its definition and why. */
export interface RunWork {
  run: Run;
  definition: FlowDefinition;
  input: RunInput;
  /** True for a run being created now (inserted, not updated). */
  isNew?: boolean;
}

/** The segment ids and event names a definition's conditions read. */
function needsOf(definition: FlowDefinition): {
  segments: Set<string>;
  events: Set<string>;
  recommendations: Set<"upsell" | "cross_sell">;
} {
  const needs = {
    segments: new Set<string>(),
    events: new Set<string>(),
    recommendations: new Set<"upsell" | "cross_sell">(),
  };
  for (const node of Object.values(definition.nodes)) {
    if (node.type === "split")
      for (const branch of node.branches) conditionNeeds(branch.when, needs);
  }
  return needs;
}

const profileReaders = new Set([
  "split",
  "wait_until",
  "wait_for_date",
  "wait_replenishment",
]);

/** True when a definition's nodes read the shopper's profile (conditions, time zone, dates). */
function readsProfile(definition: FlowDefinition): boolean {
  return Object.values(definition.nodes).some((node) =>
    profileReaders.has(node.type),
  );
}

/** The `profile.` root of flow conditions: traits, contacts and computed attributes. */
function profileRoot(profile: Profile | undefined): Record<string, unknown> {
  if (!profile) return {};
  const o = profile.orders;
  return {
    traits: profile.traits,
    email: profile.email,
    phone: profile.phone,
    consent: profile.consent,
    orderCount: o.orderCount,
    revenue: o.revenue,
    averageOrderValue: o.averageOrderValue,
    firstOrderAt: o.firstOrderAt?.toISOString() ?? null,
    lastOrderAt: o.lastOrderAt?.toISOString() ?? null,
    avgDaysBetweenOrders: o.avgDaysBetweenOrders,
    expectedNextOrderAt: o.expectedNextOrderAt?.toISOString() ?? null,
    firstSeenAt: profile.firstSeenAt?.toISOString() ?? null,
    lastSeenAt: profile.lastSeenAt?.toISOString() ?? null,
    country: profile.country,
    city: profile.city,
    timeZone: profile.timeZone,
    locale: profile.locale,
    ...profile.computed,
  };
}

/** The product ids a run's trigger is about: its `products`, else its own `product_id`. */
export function triggerProducts(run: Run): string[] {
  const props = run.context.trigger?.properties ?? run.context.data;
  const items = Array.isArray(props.products)
    ? (props.products as Record<string, unknown>[])
    : [props];
  return items
    .map((item) => textOf(item?.product_id))
    .filter((id) => id !== undefined);
}

/**
 * What the state machine may ask about a run's shopper: the profile root of conditions,
 * the segments and events since entry its splits read, the recommendations they test
 * for, the time zone and days of use. Loads only what the definition reads; the engine
 * and the dry run share it, so a dry run decides as a run would.
 */
export async function gatherRunFacts(
  tx: Tx,
  workspaceId: string,
  work: { run: Run; definition: FlowDefinition },
  known: {
    profile: Profile | undefined;
    /** The store's time zone, for shoppers without one. */
    timeZone: string | undefined;
    daysOfUse: Map<string, number>;
    now: Date;
  },
): Promise<RunFacts> {
  const { run, definition } = work;
  const { profile, now } = known;
  const needs = needsOf(definition);
  const segments = new Set<string>();
  for (const segmentId of needs.segments)
    if (await isInSegment(tx, workspaceId, segmentId, run.profileId))
      segments.add(segmentId);
  return {
    roots: {
      event: run.context.trigger?.properties ?? {},
      profile: profileRoot(profile),
      run: {},
    },
    segments,
    eventsSinceEntry:
      needs.events.size > 0
        ? await eventsSince(tx, workspaceId, {
            profileId: run.profileId,
            names: [...needs.events],
            since: run.enteredAt,
          })
        : [],
    recommendations:
      needs.recommendations.size > 0
        ? await recommendationsFor(tx, workspaceId, {
            run,
            kinds: needs.recommendations,
            now,
          })
        : new Set(),
    timeZone: safeTimeZone(profile?.timeZone ?? known.timeZone),
    daysOfUse: known.daysOfUse,
    shopperIntervalDays: profile?.orders.avgDaysBetweenOrders ?? null,
  };
}

/** Which of the asked kinds of recommendation exist for a run's trigger products. */
async function recommendationsFor(
  tx: Tx,
  workspaceId: string,
  {
    run,
    kinds,
    now,
  }: { run: Run; kinds: Set<"upsell" | "cross_sell">; now: Date },
): Promise<Set<"upsell" | "cross_sell">> {
  const ids = triggerProducts(run);
  const offered = new Set<"upsell" | "cross_sell">();
  if (ids.length === 0) return offered;
  // Is there one product to offer, other than the trigger's own?
  const one = { exclude: ids, includeOutOfStock: false, limit: 1 };
  if (
    kinds.has("upsell") &&
    (await upsellProducts(tx, workspaceId, { ...one, ids })).length > 0
  )
    offered.add("upsell");
  const since = new Date(now.getTime() - 90 * 86_400_000)
    .toISOString()
    .slice(0, 10);
  if (
    kinds.has("cross_sell") &&
    (await crossSellProducts(tx, workspaceId, { ...one, ids, since })).length >
      0
  )
    offered.add("cross_sell");
  return offered;
}

/** The merge data a message of a run gets: the trigger event's properties, the run's data, its coupons. */
export function messageData(run: Run): Record<string, unknown> {
  return {
    ...run.context.trigger?.properties,
    ...run.context.data,
    coupons: run.context.coupons,
    flow_run_id: run.id,
  };
}

/** See the module comment. */
export class FlowEngine {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #settings: SettingsCache;
  readonly #definitions = new Map<string, FlowDefinition>();

  constructor(deps: { clock: Clock; logger: Logger; settings: SettingsCache }) {
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: "flow-engine" });
    this.#settings = deps.settings;
  }

  /** A published version's definition (versions never change, so they are cached). */
  async definition(
    q: Queryable,
    workspaceId: string,
    flowId: string,
    version: number,
  ): Promise<FlowDefinition | undefined> {
    const key = `${workspaceId}:${flowId}:${version}`;
    const cached = this.#definitions.get(key);
    if (cached) return cached;
    const definition = await getVersion(q, workspaceId, flowId, version);
    if (definition) {
      if (this.#definitions.size > 5_000) this.#definitions.clear();
      this.#definitions.set(key, definition);
    }
    return definition;
  }

  /** The workspace's live flows with the version new runs use. */
  async liveFlows(q: Queryable, workspaceId: string): Promise<LiveFlow[]> {
    const flows: LiveFlow[] = [];
    for (const { id, version } of await liveFlows(q, workspaceId)) {
      const definition = await this.definition(q, workspaceId, id, version);
      if (definition) flows.push({ id, version, definition });
    }
    return flows;
  }

  /** A new run of `flow` for a shopper, not yet advanced. */
  newRun(
    flow: LiveFlow,
    profileId: string,
    start: {
      trigger?: FlowEvent;
      data?: Record<string, unknown>;
      correlation?: string | null;
    },
    now: Date,
  ): Run {
    return {
      id: uuidv7(now),
      flowId: flow.id,
      version: flow.version,
      profileId,
      status: "active",
      nodeId: flow.definition.start,
      wakeAt: now,
      waitingFor: null,
      correlation: start.correlation ?? null,
      context: {
        trigger: start.trigger
          ? {
              name: start.trigger.name,
              properties: start.trigger.properties,
              timestamp: start.trigger.timestamp.toISOString(),
            }
          : null,
        coupons: {},
        data: start.data ?? {},
      },
      visits: {},
      enteredAt: now,
      exitReason: null,
    };
  }

  /**
   * Advances runs in `tx`: gathers facts, runs the state machine (continuing past coupon
   * nodes once their code is issued), performs the effects and writes runs and steps.
   * Resolves to the runs' new states.
   */
  async advanceRuns(
    tx: Tx,
    workspaceId: string,
    work: RunWork[],
    now: Date,
  ): Promise<Run[]> {
    if (work.length === 0) return [];
    const settings = await this.#settings.get(workspaceId, tx);
    // Only flows that look at the shopper (splits, local-time and dated waits) need profiles.
    const profileIds = [
      ...new Set(
        work
          .filter((w) => readsProfile(w.definition))
          .map((w) => w.run.profileId),
      ),
    ];
    const profiles = new Map(
      (await profileRows(tx, workspaceId, profileIds)).map((row) => [
        row.id,
        toProfile(row),
      ]),
    );
    const productIds = new Set(work.flatMap((w) => triggerProducts(w.run)));
    const daysOfUse =
      productIds.size > 0
        ? await daysOfUseOf(tx, workspaceId, [...productIds])
        : new Map<string, number>();

    const results: Run[] = [];
    const steps = new Map<string, RecordedStep[]>();
    const inserted: Run[] = [];
    const updated: Run[] = [];
    const messages: EnqueueRequest[] = [];
    for (const item of work) {
      const profile = profiles.get(item.run.profileId);
      const facts = await gatherRunFacts(tx, workspaceId, item, {
        profile,
        timeZone: settings.timeZone,
        daysOfUse,
        now,
      });

      let input = item.input;
      let run = item.run;
      for (let rounds = 0; rounds < 20; rounds++) {
        const result = advance(item.definition, run, input, facts, now);
        const taken = steps.get(run.id) ?? [];
        for (const step of result.steps)
          taken.push({
            node: step.nodeId,
            visit: step.visit,
            branch: step.branch,
            at: now.toISOString(),
          });
        steps.set(run.id, taken);
        run = result.run;
        for (const effect of result.effects) {
          // Messages are queued together at the end of the batch.
          const message = this.#messageFor(workspaceId, effect, {
            run,
            definition: item.definition,
            teamEmail: settings.teamEmail,
          });
          if (message !== undefined) {
            if (message) messages.push(message);
            continue;
          }
          const code = await this.#perform(tx, workspaceId, effect, {
            run,
            now,
          });
          if (effect.kind === "coupon" && code)
            run = {
              ...run,
              context: {
                ...run.context,
                coupons: { ...run.context.coupons, [effect.poolId]: code },
              },
            };
        }
        if (run.status !== "active") break;
        input = { kind: "wake" };
      }
      (item.isNew ? inserted : updated).push(run);
      results.push(run);
    }
    await enqueueMessages(tx, messages, now);
    await insertRuns(tx, workspaceId, { runs: inserted, at: now, steps });
    await updateRuns(tx, workspaceId, { runs: updated, at: now, steps });
    return results;
  }

  /** The kinds of recommendation that have something to offer for a run's trigger products. */
  /**
   * The ledger request for a message effect (send, webhook, notify), null for one that
   * cannot go (a team notification with no team address), undefined for other effects.
   * The ledger's idempotency key is the effect's key, so a repeated step queues once.
   */
  #messageFor(
    workspaceId: string,
    effect: Effect,
    {
      run,
      definition,
      teamEmail,
    }: {
      run: Run;
      definition: FlowDefinition;
      teamEmail: string | undefined;
    },
  ): EnqueueRequest | null | undefined {
    const base = {
      workspaceId,
      profileId: run.profileId,
      data: messageData(run),
      source: {
        kind: "flow" as const,
        flowId: run.flowId,
        flowRunId: run.id,
        nodeId: effect.nodeId,
      },
      idempotencyKey: `flow:${effect.key}`,
    };
    const settings = definition.settings ?? {};
    switch (effect.kind) {
      case "send":
        return {
          ...base,
          channel: effect.channel,
          templateId: effect.templateId,
          transactional: effect.transactional,
          ...(effect.listId ? { listId: effect.listId } : {}),
          ...(effect.transactional
            ? {}
            : {
                obeyFrequencyCap: settings.obeyFrequencyCap ?? true,
                obeyQuietHours: settings.obeyQuietHours ?? true,
                skipWhenCapped: effect.skipWhenCapped,
              }),
        };
      case "webhook":
        return {
          ...base,
          channel: "webhook",
          content: {
            body: effect.body ?? {
              flow_id: run.flowId,
              flow_run_id: run.id,
              profile_id: run.profileId,
              event: run.context.trigger,
            },
          },
          transactional: true,
          to: effect.url,
        };
      case "notify": {
        // "team" is the workspace's team address (settings.teamEmail).
        const to = effect.to === "team" ? teamEmail : effect.to;
        if (!to) {
          this.#logger.warn(
            { workspaceId, flowId: run.flowId, nodeId: effect.nodeId },
            "no teamEmail setting: team notification not sent",
          );
          return null;
        }
        const isUrl = /^https?:\/\//.test(to);
        return {
          ...base,
          channel: isUrl ? "webhook" : "email",
          content: isUrl
            ? {
                body: {
                  text: `${effect.subject}\n${effect.text}`,
                  profile_id: run.profileId,
                  flow_id: run.flowId,
                },
              }
            : { subject: effect.subject, text: effect.text },
          transactional: true,
          to,
        };
      }
      default:
        return undefined;
    }
  }

  /** Performs one effect that is not a message; resolves to the code of a coupon effect. */
  async #perform(
    tx: Tx,
    workspaceId: string,
    effect: Effect,
    { run, now }: { run: Run; now: Date },
  ): Promise<string | undefined> {
    switch (effect.kind) {
      case "coupon": {
        // Issuing is idempotent by key: the same step always gets the same code.
        const coupon = await issueCoupon(tx, workspaceId, {
          poolId: effect.poolId,
          profileId: run.profileId,
          key: effect.key,
          now,
        });
        return coupon.code;
      }
      case "update_profile":
        // Idempotent by message id; "{{now}}" stamps the time of the step (vip_since).
        await appendProfileEvents(tx, workspaceId, [
          {
            messageId: `flow:${effect.key}`,
            type: "identify",
            name: null,
            userId: null,
            anonymousId: null,
            properties: { flow_id: run.flowId, flow_run_id: run.id },
            traits: Object.fromEntries(
              Object.entries(effect.traits).map(([key, value]) => [
                key,
                value === "{{now}}" ? now.toISOString() : value,
              ]),
            ),
            context: {},
            timestamp: now,
            receivedAt: now,
            source: "herald",
            silent: false,
            profileId: run.profileId,
          },
        ]);
        return undefined;
      case "tag":
        if (effect.action === "add")
          await addTag(tx, workspaceId, {
            profileId: run.profileId,
            tag: effect.tag,
            now,
            source: "flow",
          });
        else
          await removeTag(tx, workspaceId, {
            profileId: run.profileId,
            tag: effect.tag,
            now,
          });
        return undefined;
      case "score":
        // Points add up, so a repeated step must not add them again.
        if (
          await claimEffect(
            tx,
            workspaceId,
            { key: effect.key, runId: run.id, kind: effect.kind },
            now,
          )
        ) {
          await addScore(tx, workspaceId, {
            profileId: run.profileId,
            score: effect.name,
            points: Math.round(effect.points),
            now,
            source: "flow",
          });
        }
        return undefined;
      case "list":
        await setListStatus(tx, workspaceId, effect.listId, {
          profileIds: [run.profileId],
          status: effect.action === "subscribe" ? "subscribed" : "unsubscribed",
          source: "flow",
          at: now,
        });
        return undefined;
      default:
        return undefined;
    }
  }

  /** Logs a run that could not advance and is left to be retried. */
  failed(run: Run, error: unknown): void {
    this.#logger.error(
      { err: error, runId: run.id, flowId: run.flowId, nodeId: run.nodeId },
      "flow run could not advance",
    );
  }

  /** The engine's clock. */
  now(): Date {
    return this.#clock.now();
  }
}
