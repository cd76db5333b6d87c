import { advance, type Effect, type Run } from "@herald/core/flows/advance";
import { triggerMatches } from "@herald/core/flows/entry";
import { audienceBatch, profilesWithTrait } from "./flow-triggers.sql.ts";
import { daysOfUseOf, recentTriggerEvents } from "./flow-facts.sql.ts";
import { getProfileRow, toProfile } from "../profiles/profiles.sql.ts";
import { getSettings } from "../workspaces/settings.sql.ts";
import { gatherRunFacts, triggerProducts } from "./flow-engine.ts";
import { checkDefinition, requireFlow, type FlowDeps } from "./flow-service.ts";

/** What a simulated shopper would get. */
export interface DryRunPath {
  profileId: string;
  email: string | null;
  steps: { at: string; nodeId: string; branch: string | null }[];
  messages: { at: string; channel: string; templateId: string }[];
  actions: { at: string; kind: Effect["kind"]; nodeId: string }[];
  ends: string;
}

/**
 * Who would enter this flow now and what they would get, without sending anything: the
 * shoppers its trigger would pick (a segment's members, profiles with the date trait,
 * recent senders of the trigger event), each walked through the draft with time moving on
 * to every wait's end and no further events arriving.
 */
export async function dryRun(
  { db, clock }: FlowDeps,
  workspaceId: string,
  flowId: string,
  limit: number,
): Promise<{ candidates: number; paths: DryRunPath[] }> {
  const flow = await requireFlow(db, workspaceId, flowId);
  const definition = await checkDefinition(db, workspaceId, flow.draft);
  const now = clock.now();
  const trigger = definition.trigger;
  let candidates: { id: string; trigger?: Record<string, unknown> }[] = [];
  if (
    trigger.type === "segment_entered" ||
    trigger.type === "segment_exited" ||
    trigger.type === "schedule"
  ) {
    const segmentId =
      trigger.type === "schedule" ? trigger.segmentId : trigger.segmentId;
    candidates = (
      await audienceBatch(db, workspaceId, { segmentId, after: null, limit })
    ).map((p) => ({ id: p.id }));
  } else if (trigger.type === "date") {
    candidates = (
      await profilesWithTrait(db, workspaceId, {
        trait: trigger.trait,
        after: null,
        limit,
      })
    ).map((p) => ({ id: p.id }));
  } else if (trigger.type === "event" || trigger.type === "form") {
    // The newest event of each shopper in the last week that the trigger, filters
    // included, would have started a run for.
    const name = trigger.type === "event" ? trigger.event : "Form Submitted";
    const seen = new Set<string>();
    for (const e of await recentTriggerEvents(db, workspaceId, {
      name,
      since: new Date(now.getTime() - 7 * 86_400_000),
      limit: limit * 20,
    })) {
      if (seen.has(e.profile_id)) continue;
      const event = { name, properties: e.properties, timestamp: e.timestamp };
      if (!triggerMatches(trigger, event)) continue;
      seen.add(e.profile_id);
      candidates.push({ id: e.profile_id, trigger: e.properties });
    }
  }
  const timeZone = (await getSettings(db, workspaceId))?.timeZone;
  const paths: DryRunPath[] = [];
  for (const candidate of candidates.slice(0, limit)) {
    const row = await getProfileRow(db, workspaceId, candidate.id);
    if (!row) continue;
    const profile = toProfile(row);
    let run: Run = {
      id: `dry-${candidate.id}`,
      flowId,
      version: 0,
      profileId: candidate.id,
      status: "active",
      nodeId: definition.start,
      wakeAt: now,
      waitingFor: null,
      correlation: null,
      context: {
        trigger: candidate.trigger
          ? {
              name: "trigger",
              properties: candidate.trigger,
              timestamp: now.toISOString(),
            }
          : null,
        coupons: {},
        data: {},
      },
      visits: {},
      enteredAt: now,
      exitReason: null,
    };
    const products = triggerProducts(run);
    const daysOfUse =
      products.length > 0
        ? await daysOfUseOf(db, workspaceId, products)
        : new Map<string, number>();
    const facts = await db.tx((tx) =>
      gatherRunFacts(
        tx,
        workspaceId,
        { run, definition },
        { profile, timeZone, daysOfUse, now },
      ),
    );
    const path: DryRunPath = {
      profileId: candidate.id,
      email: profile.email,
      steps: [],
      messages: [],
      actions: [],
      ends: "still running after 50 steps",
    };
    let at = now;
    let input: Parameters<typeof advance>[2] = { kind: "start" };
    for (let round = 0; round < 50; round++) {
      const result = advance(definition, run, input, facts, at);
      for (const step of result.steps)
        path.steps.push({
          at: at.toISOString(),
          nodeId: step.nodeId,
          branch: step.branch,
        });
      for (const effect of result.effects) {
        if (effect.kind === "send")
          path.messages.push({
            at: at.toISOString(),
            channel: effect.channel,
            templateId: effect.templateId,
          });
        else
          path.actions.push({
            at: at.toISOString(),
            kind: effect.kind,
            nodeId: effect.nodeId,
          });
        if (effect.kind === "coupon")
          result.run.context.coupons[effect.poolId] = "(a new code)";
      }
      run = result.run;
      if (run.status === "completed" || run.status === "exited") {
        path.ends =
          run.status === "completed"
            ? `completed at ${run.nodeId}`
            : `exited: ${run.exitReason ?? ""}`;
        break;
      }
      if (run.status === "waiting" && run.wakeAt) at = run.wakeAt;
      input = { kind: "wake" };
    }
    paths.push(path);
  }
  return { candidates: candidates.length, paths };
}
