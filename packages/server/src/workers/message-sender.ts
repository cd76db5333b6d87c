import { randomUUID } from "node:crypto";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Clock } from "@herald/core/clock";
import { isDomainError } from "@herald/core/domain-error";
import {
  maxAttempts,
  resolveInterrupted,
  retryDelayMs,
} from "@herald/core/messages/ledger";
import type { Database, Tx } from "../db/database.ts";
import { listDeliveryPauses } from "../messages/delivery-pauses.sql.ts";
import {
  messagesChannel,
  setMessageStatus,
  type MessageRow,
} from "../messages/messages.sql.ts";
import { listPushSubscriptions } from "../messages/push-subscriptions.sql.ts";
import {
  applyClaimUpdates,
  claimDueMessages,
  lockInterrupted,
  nextDueAt,
  recordSendResults,
  renewLeases,
  type ClaimUpdate,
  type ClaimedRow,
  type SendingRow,
  type SendResult,
} from "../messages/send-queue.sql.ts";
import type { Logger } from "../logger.ts";
import type { SendOutcome } from "../providers/provider.ts";
import { applySendEffect, type SendEffect } from "../messages/send-effects.ts";
import { gatherPolicyFacts } from "../messages/message-policy-facts.ts";
import {
  prepareMessage,
  type DeliveryDeps,
} from "../messages/message-delivery.ts";
import { ProviderSet, type ProviderSetDeps } from "../messages/provider-set.ts";
import {
  ProviderSlots,
  type ProviderSlot,
} from "../messages/provider-slots.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import { LoopWorker } from "./worker-loop.ts";

/**
 * The message sender: takes due ledger rows to the providers, never sending one twice.
 *
 * A step claims due rows (`queued`/`deferred`, `send_at` reached, provider not paused)
 * with FOR UPDATE SKIP LOCKED, marking them `sending` (with this sender's id and a lease),
 * runs the policy on each and, in the same transaction, puts back the ones it skips or
 * defers. Only after that commit does a provider see a message. Outcomes are buffered and
 * recorded in batches (`sent`, back to `queued` with backoff, or `failed`), in the next
 * claim's transaction when there is one.
 *
 * Per provider (workspace + channel), a slot (`messages/provider-slots.ts`): at most
 * `concurrency` calls in flight and six times that claimed and not yet answered (claimed
 * again when down to half), a rate limiter (per second, per hour, per day), and a count of
 * consecutive errors that pauses the provider (a `delivery_pauses` row, an error log, the
 * `herald_delivery_paused` metric) until `retry_at` or an operator resumes it.
 *
 * States of the sender: idle → claiming → sending (outcomes buffered) → recording → idle.
 * A crash at any point leaves rows `queued` (never claimed), or `sending` (perhaps handed
 * to the provider): the next sender resolves those by `resolveInterrupted` — on the
 * embedded database at once (only one process can open it), on PostgreSQL once their
 * lease has run out. Trade-off: outcomes that were in the buffer when the process died
 * are reported `failed (outcome_unknown)` even though most of them went out; the
 * alternative, resending, is the duplicate this ledger exists to prevent.
 */

/** Rows claimed per transaction at most. */
const claimBatch = 200;
/** Rows claimed before any provider's room is known. */
const firstClaim = 20;
/** Outcomes recorded per transaction at most (and recorded sooner when idle). */
const recordBatch = 100;
const leaseMs = 2 * 60_000;
const sweepEveryMs = 30_000;

/** How the sender is configured by the composition root. */
export interface SenderDeps extends DeliveryDeps, ProviderSetDeps {
  db: Database;
  clock: Clock;
  registry: Registry;
  settings: SettingsCache;
}

/** What a provider answered about a row, with what was prepared for it. */
type Answer = {
  outcome: SendOutcome;
  prepared?:
    | { content: unknown; links: string[]; templateVersion: number | null }
    | undefined;
  /** Push endpoints the push service said are gone. */
  gone?: string[];
};

/** See the module comment. */
export class MessageSender extends LoopWorker {
  /** This sender's id on the rows it holds. */
  readonly id = `sender-${randomUUID()}`;
  readonly #d: SenderDeps;
  readonly #logger: Logger;
  readonly #providers: ProviderSet;
  readonly #slots: ProviderSlots;
  readonly #tasks = new Set<Promise<void>>();
  #results: Outcome[] = [];
  #recording: Promise<void> = Promise.resolve();
  #recordTimer: NodeJS.Timeout | undefined;
  #lastSweep = 0;
  /** A wake-up for buffered outcomes is on its way. */
  #woken = false;
  readonly #outcomes: Counter<"channel" | "outcome">;

  constructor(deps: SenderDeps) {
    super(deps, {
      name: "message-sender",
      channels: [messagesChannel],
      pollMs: 1_000,
      step: () => this.step(),
      // While messages are in flight, recording their outcomes wakes the loop; asking for
      // the next due row then would find one already due and spin.
      nextWakeAt: () =>
        this.#tasks.size > 0
          ? Promise.resolve(undefined)
          : nextDueAt(this.#d.db),
    });
    this.#d = deps;
    this.#logger = deps.logger.child({ component: this.name });
    this.#providers = new ProviderSet(deps);
    this.#slots = new ProviderSlots({
      db: deps.db,
      settings: deps.settings,
      logger: this.#logger,
    });
    this.#outcomes = new Counter({
      name: "herald_messages_total",
      help: "Ledger rows moved by the sender, by channel and outcome (sent, retried, failed, skipped, deferred, interrupted)",
      labelNames: ["channel", "outcome"],
      registers: [deps.registry],
    });
    const db = deps.db;
    new Gauge({
      name: "herald_delivery_paused",
      help: "Providers paused after consecutive errors, by channel (GET /api/messages/providers has the reasons)",
      labelNames: ["channel"],
      registers: [deps.registry],
      async collect() {
        this.reset();
        for (const pause of await listDeliveryPauses(db).catch(() => []))
          this.inc({ channel: pause.channel });
      },
    });
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.idle();
    await this.#providers.close();
  }

  /** Resolves once every message in flight has its outcome recorded. */
  async idle(): Promise<void> {
    while (this.#tasks.size > 0 || this.#results.length > 0) {
      await Promise.all([...this.#tasks]);
      await this.#record();
    }
    await this.#recording;
  }

  /**
   * Sends everything due now and waits for the outcomes (tests, the CLI); `workspaceId`
   * limits it to one workspace, for tests that share a database.
   */
  async drain(workspaceId?: string): Promise<number> {
    let total = 0;
    for (;;) {
      const did = await this.step(workspaceId);
      total += did;
      if (did === 0) {
        const busy = this.#tasks.size > 0 || this.#results.length > 0;
        await this.idle(); // outcomes being recorded commit before we look again
        if (!busy) break;
      }
    }
    return total;
  }

  /** Claims due rows and sets the ones to send going; resolves to the rows claimed. */
  async step(workspaceId?: string): Promise<number> {
    const now = this.#d.clock.now();
    if (
      workspaceId !== undefined ||
      Date.now() - this.#lastSweep >= sweepEveryMs
    ) {
      if (workspaceId === undefined) this.#lastSweep = Date.now();
      await this.#sweep(now, workspaceId);
    }
    this.#woken = false;
    const slots = this.#slots;
    const busy = slots.busy();
    // Claim no more than the providers can take: rows claimed beyond that would only be
    // locked, left queued and claimed again.
    const room = slots.room();
    // Claim in batches: when a provider is down to half its buffer (a transaction per
    // message would cost more than the sending), or when nothing is in flight.
    const hungry = slots.hungry();
    if (slots.size > 0 && (room === 0 || (!hungry && this.#tasks.size > 0))) {
      // Outcomes wait for the next claim's transaction, unless they are many (or the
      // timer set when they were buffered runs out).
      if (this.#results.length >= recordBatch / 2) await this.#record();
      return 0; // an outcome that makes a provider hungry wakes us
    }
    // Outcomes waiting to be recorded go in the same transaction as the claim: one
    // commit instead of two.
    const pending = this.#results.splice(0, recordBatch);
    if (this.#results.length === 0) {
      clearTimeout(this.#recordTimer);
      this.#recordTimer = undefined;
    }
    // A provider not seen yet starts small: its first batch waits on new connections.
    const limit = slots.size === 0 ? firstClaim : Math.min(claimBatch, room);
    const launched: { row: SendingRow; slot: ProviderSlot }[] = [];
    const claimed = await this.#d.db
      .tx(async (tx) => {
        if (pending.length > 0) await this.#recordIn(tx, pending, now);
        const rows = await claimDueMessages(tx, {
          now,
          limit,
          by: this.id,
          leaseUntil: new Date(now.getTime() + leaseMs),
          busy,
          ...(workspaceId === undefined ? {} : { workspaceId }),
        });
        const byWorkspace = new Map<string, ClaimedRow[]>();
        for (const row of rows)
          byWorkspace.set(row.workspace_id, [
            ...(byWorkspace.get(row.workspace_id) ?? []),
            row,
          ]);
        for (const [workspaceId, list] of byWorkspace)
          launched.push(...(await this.#decide(tx, workspaceId, list, now)));
        return rows.length;
      })
      .catch((error: unknown) => {
        // Not recorded: the rows are still ours and `sending`; record them later.
        this.#results.unshift(...pending);
        throw error;
      });
    for (const { row, slot } of launched) this.#launch(row, slot);
    return claimed;
  }

  /** Runs the policy on a workspace's claimed rows and applies the decisions. */
  async #decide(
    tx: Tx,
    workspaceId: string,
    rows: ClaimedRow[],
    now: Date,
  ): Promise<{ row: SendingRow; slot: ProviderSlot }[]> {
    const settings = await this.#d.settings.get(workspaceId, tx);
    const judge = await gatherPolicyFacts(tx, workspaceId, {
      rows,
      settings,
      now,
    });
    const updates: ClaimUpdate[] = [];
    const launch: { row: SendingRow; slot: ProviderSlot }[] = [];
    const budgets = this.#slots.budgets(tx);
    for (const row of rows) {
      const { address, decision } = judge.decide(row);
      const base = {
        id: row.id,
        recipient: address ?? null,
        first_sending_at: row.old_first_sending_at?.toISOString() ?? null,
      };
      if (decision.action === "skip") {
        updates.push({
          ...base,
          status: "skipped",
          reason: decision.reason,
          decision_step: decision.step,
          send_at: row.send_at.toISOString(),
        });
        this.#outcomes.inc({ channel: row.channel, outcome: "skipped" });
        continue;
      }
      if (decision.action === "defer") {
        updates.push({
          ...base,
          status: "deferred",
          reason: decision.reason,
          decision_step: decision.step,
          send_at: decision.until.toISOString(),
        });
        this.#outcomes.inc({ channel: row.channel, outcome: "deferred" });
        continue;
      }
      const slot = this.#slots.slot(workspaceId, row.channel, settings);
      if (!this.#slots.hasRoom(slot)) {
        // No room after all: back as it was, claimed again soon.
        updates.push({
          ...base,
          status: row.old_status,
          reason: row.reason,
          decision_step: row.decision_step,
          send_at: row.send_at.toISOString(),
        });
        continue;
      }
      const wait = await budgets.take(slot, now);
      if (wait > 0) {
        updates.push({
          ...base,
          status: row.old_status,
          reason: `rate limit of ${row.channel}: waiting ${Math.ceil(wait / 1000)} s`,
          decision_step: row.decision_step,
          send_at: new Date(now.getTime() + wait).toISOString(),
        });
        continue;
      }
      judge.counted(row);
      this.#slots.claimed(slot);
      // Already `sending` since the claim; the address is recorded with the outcome.
      row.recipient = address ?? null;
      launch.push({ row, slot });
    }
    await budgets.save();
    await applyClaimUpdates(tx, workspaceId, updates, now);
    return launch;
  }

  #launch(row: SendingRow, slot: ProviderSlot): void {
    const task = this.#send(row, slot)
      .catch((error: unknown) => {
        // A bug, not a provider answer: keep the row visible instead of retrying blindly.
        this.#logger.error(
          { err: error, messageId: row.id },
          "sending a message failed unexpectedly",
        );
        this.#push(row, slot, {
          outcome: {
            ok: false,
            provider: "herald",
            kind: "permanent",
            error: `internal error: ${String(error)}`,
            recipientOnly: true,
          },
        });
      })
      .finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
  }

  async #send(row: SendingRow, slot: ProviderSlot): Promise<void> {
    const settings = await this.#d.settings.get(row.workspace_id);
    let prepared;
    try {
      prepared = await prepareMessage(row, settings, this.#d);
    } catch (error) {
      const permanent = isDomainError(error);
      this.#push(row, slot, {
        outcome: {
          ok: false,
          provider: "content",
          kind: permanent ? "permanent" : "transient",
          error: `content: ${error instanceof Error ? error.message : String(error)}`,
          recipientOnly: true,
        },
      });
      return;
    }
    const provider = await this.#providers.get(
      row.workspace_id,
      row.channel,
      settings,
    );
    const targets =
      row.channel === "push"
        ? (
            await listPushSubscriptions(
              this.#d.db,
              row.workspace_id,
              row.profile_id,
            )
          ).map((s) => ({
            to: s.endpoint,
            push: { p256dh: s.p256dh, auth: s.auth },
          }))
        : [{ to: row.recipient ?? "", push: undefined }];
    if (targets.length === 0) {
      this.#push(row, slot, {
        outcome: {
          ok: false,
          provider: provider.name,
          kind: "permanent",
          error: "no push subscription left",
          recipientOnly: true,
        },
        prepared,
      });
      return;
    }
    await this.#slots.acquire(slot);
    let outcome: SendOutcome | undefined;
    const gone: string[] = [];
    try {
      for (const target of targets) {
        const result = await provider.send({
          workspaceId: row.workspace_id,
          id: row.id,
          channel: row.channel,
          to: target.to,
          content: prepared.content,
          headers: prepared.headers,
          ...(target.push ? { push: target.push } : {}),
          at: this.#d.clock.now(),
        });
        if (!result.ok && result.gone) gone.push(target.to);
        // One browser that took it is enough; otherwise report the worst answer.
        if (
          result.ok ||
          !outcome ||
          (outcome.ok === false && result.kind === "transient")
        )
          outcome = result;
      }
    } finally {
      this.#slots.release(slot);
    }
    this.#push(row, slot, {
      outcome: outcome ?? {
        ok: false,
        provider: provider.name,
        kind: "permanent",
        error: "nothing sent",
      },
      prepared,
      gone,
    });
  }

  /** Buffers an outcome for recording; records at once when the buffer is full. */
  #push(row: SendingRow, slot: ProviderSlot, answer: Answer): void {
    const { outcome, prepared, gone = [] } = answer;
    const now = this.#d.clock.now();
    const result = outcomeResult(row, outcome, prepared, now);
    this.#outcomes.inc({
      channel: row.channel,
      outcome: result.status === "queued" ? "retried" : result.status,
    });
    this.#results.push({
      ...result,
      effect: { row, outcome, gone },
    });
    const halfEmpty = this.#slots.answered(slot, outcome, now);
    // Wake the loop to record and claim more while the provider still has messages
    // waiting (half its buffer), so that it never runs dry during a claim.
    if (
      this.#results.length >= recordBatch / 2 ||
      this.#tasks.size <= 1 ||
      halfEmpty
    ) {
      // Once per batch: the next step records everything buffered by then.
      if (this.started && !this.#woken) {
        this.#woken = true;
        this.wake();
      } else if (!this.started) void this.#record();
    } else this.#recordTimer ??= setTimeout(() => void this.#record(), 50);
  }

  /** Records buffered outcomes in one transaction (serialised). */
  #record(): Promise<void> {
    clearTimeout(this.#recordTimer);
    this.#recordTimer = undefined;
    this.#recording = this.#recording.then(async () => {
      while (this.#results.length > 0) {
        const batch = this.#results.splice(0, recordBatch);
        await this.#recordBatch(batch);
      }
    });
    return this.#recording;
  }

  async #recordBatch(batch: Outcome[]): Promise<void> {
    const now = this.#d.clock.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#d.db.tx((tx) => this.#recordIn(tx, batch, now));
        break;
      } catch (error) {
        if (attempt >= 5) {
          // The rows stay `sending` and are resolved as interrupted by the next sweep.
          this.#logger.error(
            { err: error, messages: batch.length },
            "could not record send outcomes",
          );
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
    this.wake();
  }

  async #recordIn(tx: Tx, batch: Outcome[], now: Date): Promise<void> {
    const rows = batch.map(({ effect: _e, ...r }) => r);
    await recordSendResults(tx, this.id, rows, now);
    for (const r of batch)
      if (r.effect) await applySendEffect(tx, r.effect, now);
  }

  /** Resolves rows left `sending` by a sender that is gone, and extends our own leases. */
  async #sweep(now: Date, workspaceId?: string): Promise<void> {
    await renewLeases(this.#d.db, this.id, new Date(now.getTime() + leaseMs));
    for (;;) {
      const resolved = await this.#d.db.tx(async (tx) => {
        const rows = await lockInterrupted(tx, {
          now,
          me: this.id,
          allButMe: this.#d.db.kind === "pglite",
          limit: 500,
          ...(workspaceId === undefined ? {} : { workspaceId }),
        });
        const groups = new Map<string, MessageRow[]>();
        for (const row of rows) {
          const { status, reason } = resolveInterrupted(row.channel);
          const key = JSON.stringify([row.workspace_id, status, reason]);
          groups.set(key, [...(groups.get(key) ?? []), row]);
          this.#outcomes.inc({ channel: row.channel, outcome: "interrupted" });
        }
        for (const [key, list] of groups) {
          const [workspaceId, status, reason] = JSON.parse(key) as [
            string,
            "failed" | "queued",
            string,
          ];
          await setMessageStatus(tx, workspaceId, {
            ids: list.map((r) => r.id),
            status,
            reason,
            now,
          });
        }
        return rows.length;
      });
      if (resolved > 0)
        this.#logger.warn(
          { messages: resolved },
          "resolved messages left sending by a stopped sender (see DESIGN.md: interrupted sends)",
        );
      if (resolved < 500) break;
    }
  }
}

/** A provider's answer as the ledger will record it. */
type Outcome = SendResult & { effect?: SendEffect };

/** How the ledger records a provider's answer: sent, queued again after a backoff, or failed. */
export function outcomeResult(
  row: SendingRow,
  outcome: SendOutcome,
  prepared:
    | { content: unknown; links: string[]; templateVersion: number | null }
    | undefined,
  now: Date,
): SendResult {
  const base = {
    workspace_id: row.workspace_id,
    id: row.id,
    recipient: row.recipient,
    decision_step: "send",
    provider: outcome.provider,
    // Inline content renders the same way every time (tracking links are signed from the
    // ledger id): only rendered templates and outbox copies are worth their bytes.
    content:
      prepared && (!row.inline_content || outcome.provider === "outbox")
        ? prepared.content
        : null,
    links: prepared?.links ?? null,
    template_version: prepared?.templateVersion ?? null,
  };
  if (outcome.ok)
    return {
      ...base,
      status: "sent",
      reason: null,
      send_at: null,
      provider_message_id: outcome.providerMessageId ?? null,
    };
  if (outcome.kind === "transient" && row.attempts + 1 < maxAttempts) {
    const delay = Math.max(
      retryDelayMs(row.attempts + 1),
      outcome.retryAfterMs ?? 0,
    );
    return {
      ...base,
      status: "queued",
      reason: `retry ${row.attempts + 2} of ${maxAttempts} after: ${outcome.error}`,
      send_at: new Date(now.getTime() + delay).toISOString(),
      provider_message_id: null,
    };
  }
  return {
    ...base,
    status: "failed",
    reason:
      outcome.kind === "transient"
        ? `gave up after ${maxAttempts} attempts: ${outcome.error}`
        : outcome.error,
    send_at: null,
    provider_message_id: null,
  };
}
