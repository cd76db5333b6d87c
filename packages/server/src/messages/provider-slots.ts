import type { MessageChannel } from "@herald/core/messages/content";
import type {
  MessagingSettings,
  RateLimit,
} from "@herald/core/messages/settings";
import type { WorkspaceSettings } from "@herald/core/workspaces/settings";
import type { Database, Tx } from "../db/database.ts";
import type { Logger } from "../logger.ts";
import type { SendOutcome } from "../providers/provider.ts";
import { RateLimiter } from "../providers/rate-limit.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import {
  ensureDeliveryBudget,
  lockDeliveryBudget,
  saveDeliveryBudget,
} from "./delivery-budgets.sql.ts";
import {
  deleteDeliveryPause,
  upsertDeliveryPause,
} from "./delivery-pauses.sql.ts";
import { countSentSince } from "./send-queue.sql.ts";

/**
 * The sender's slot per provider (a workspace's channel): how much of its work is
 * claimed, how many calls are in flight, its rate limit and its run of errors.
 *
 * States of a slot, for claims: open (fewer rows claimed and not yet answered than its
 * buffer, six times its concurrency and at least 10) → hungry (down to half its buffer:
 * the sender claims now, so the provider never runs dry while a claim commits) → full
 * (its buffer claimed: claims skip its rows until answers come back).
 * For calls: at most `concurrency` at once (email 25 over the SMTP pool, SMS 10, push 20,
 * unless the workspace's limits say otherwise); the others wait their turn in order.
 * For errors: working → paused after `delivery.pauseAfterErrors` (20) consecutive errors
 * of the provider (not of one recipient): a `delivery_pauses` row, which every sender's
 * claim skips until `retry_at` (`delivery.pauseMinutes`, 5) or an operator resumes it,
 * and an error log → working again at the first success.
 * The rate limit (per second, hour, day) is a `RateLimiter` whose state is a
 * `delivery_budgets` row, locked and written back in the claim's transaction
 * (`ClaimBudgets`), so every sender of one database takes from one budget.
 *
 * Trade-off: slots live in this process; only pauses and budgets are shared. Two sender
 * processes each allow `concurrency` calls to a provider at once.
 */

/**
 * Sends in flight at once per provider, unless the workspace's limits say otherwise.
 * Email's keep about five messages queued per SMTP connection (a pool of five) in the
 * SMTP thread, enough to ride out the main thread's pauses (an embedded-database
 * transaction holds it) without a connection going idle.
 */
const defaultConcurrency: Record<MessageChannel, number> = {
  email: 25,
  sms: 10,
  push: 20,
  telegram: 10,
  webhook: 10,
};

/** One provider's slot (see the module comment). */
export interface ProviderSlot {
  /** `workspace/channel`, as claims name busy providers. */
  readonly key: string;
  readonly workspaceId: string;
  readonly channel: MessageChannel;
  /** Rows claimed whose outcome is not known yet. */
  inFlight: number;
  /** Calls to the provider under way. */
  running: number;
  waiters: (() => void)[];
  /** Consecutive provider errors. */
  errors: number;
  paused: boolean;
  /** The workspace's limits of the channel, when it has any. */
  limits: RateLimit | undefined;
}

/** The slots of every provider this sender has claimed rows for. */
export class ProviderSlots {
  readonly #db: Database;
  readonly #settings: SettingsCache;
  readonly #logger: Logger;
  readonly #slots = new Map<string, ProviderSlot>();

  constructor(deps: { db: Database; settings: SettingsCache; logger: Logger }) {
    this.#db = deps.db;
    this.#settings = deps.settings;
    this.#logger = deps.logger;
  }

  /** How many providers have a slot (none before the first claim). */
  get size(): number {
    return this.#slots.size;
  }

  /** The slot of a workspace's channel, with the limits its settings give it now. */
  slot(
    workspaceId: string,
    channel: MessageChannel,
    settings: WorkspaceSettings,
  ): ProviderSlot {
    const key = `${workspaceId}/${channel}`;
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = {
        key,
        workspaceId,
        channel,
        inFlight: 0,
        running: 0,
        waiters: [],
        errors: 0,
        paused: false,
        limits: undefined,
      };
      this.#slots.set(key, slot);
    }
    slot.limits = limitsOf(settings, channel);
    return slot;
  }

  /** The `workspace/channel` keys of full slots, whose rows a claim skips. */
  busy(): string[] {
    return [...this.#slots.values()]
      .filter((s) => !this.hasRoom(s))
      .map((s) => s.key);
  }

  /** How many more rows the slots can take in all. */
  room(): number {
    let room = 0;
    for (const s of this.#slots.values())
      room += Math.max(0, this.#buffer(s) - s.inFlight);
    return room;
  }

  /** True when some slot is down to half its buffer: time to claim. */
  hungry(): boolean {
    return [...this.#slots.values()].some(
      (s) => s.inFlight <= this.#buffer(s) / 2,
    );
  }

  /** True while the slot can take another claimed row. */
  hasRoom(slot: ProviderSlot): boolean {
    return slot.inFlight < this.#buffer(slot);
  }

  /** Counts a claimed row that will go to the slot's provider. */
  claimed(slot: ProviderSlot): void {
    slot.inFlight++;
  }

  /** Waits for the slot's turn to call its provider. */
  async acquire(slot: ProviderSlot): Promise<void> {
    if (slot.running < this.#concurrency(slot)) {
      slot.running++;
      return;
    }
    await new Promise<void>((resolve) => slot.waiters.push(resolve));
  }

  /** Ends a call: the next one in line goes. */
  release(slot: ProviderSlot): void {
    const next = slot.waiters.shift();
    if (next) next();
    else slot.running--;
  }

  /**
   * Counts the provider's answer to a claimed row (a success resumes a paused provider,
   * a provider error may pause it); true when the slot is down to exactly half its
   * buffer, the moment to claim more.
   */
  answered(slot: ProviderSlot, outcome: SendOutcome, now: Date): boolean {
    slot.inFlight--;
    this.#track(slot, outcome, now);
    return slot.inFlight === Math.floor(this.#buffer(slot) / 2);
  }

  /** The rate-limit budgets of one claim's transaction. */
  budgets(tx: Tx): ClaimBudgets {
    return new ClaimBudgets(tx);
  }

  #buffer(slot: ProviderSlot): number {
    return Math.max(10, this.#concurrency(slot) * 6);
  }

  #concurrency(slot: ProviderSlot): number {
    return slot.limits?.concurrency ?? defaultConcurrency[slot.channel];
  }

  /** Counts consecutive provider errors; pauses the provider at the workspace's limit. */
  #track(slot: ProviderSlot, outcome: SendOutcome, now: Date): void {
    const { workspaceId, channel } = slot;
    if (outcome.ok) {
      slot.errors = 0;
      if (slot.paused) {
        slot.paused = false;
        void deleteDeliveryPause(this.#db, workspaceId, channel).catch(
          () => undefined,
        );
        this.#logger.info(
          { provider: slot.key },
          "provider works again; resumed",
        );
      }
      return;
    }
    if (outcome.recipientOnly) return;
    slot.errors++;
    void this.#settings
      .get(workspaceId)
      .then(async (settings) => {
        const limit = settings.delivery?.pauseAfterErrors ?? 20;
        if (slot.errors < limit) return;
        const minutes = settings.delivery?.pauseMinutes ?? 5;
        slot.paused = true;
        const retryAt = new Date(now.getTime() + minutes * 60_000);
        await upsertDeliveryPause(this.#db, {
          workspace_id: workspaceId,
          channel,
          reason: `${slot.errors} consecutive errors; last: ${outcome.error}`,
          errors: slot.errors,
          paused_at: now,
          retry_at: retryAt,
        });
        this.#logger.error(
          {
            provider: slot.key,
            errors: slot.errors,
            lastError: outcome.error,
            retryAt,
          },
          "provider paused after consecutive errors (POST /api/messages/providers/{channel}/resume to resume now)",
        );
      })
      .catch((error: unknown) =>
        this.#logger.warn({ err: error }, "could not record a provider pause"),
      );
  }
}

/** A provider's shared rate limiter as loaded in one claim's transaction. */
type Budget = {
  slot: ProviderSlot;
  limitsKey: string;
  limiter: RateLimiter;
};

/**
 * The providers' rate limiters of one claim, shared by every sender of the database:
 * each one's state is a `delivery_budgets` row, locked when first needed until the claim's
 * transaction commits (so two senders take from one budget in turn) and written back by
 * `save`. A budget is made from the ledger's counts of the last hour and day when its row
 * is new or the limits changed.
 */
export class ClaimBudgets {
  readonly #tx: Tx;
  readonly #budgets = new Map<string, Budget>();

  constructor(tx: Tx) {
    this.#tx = tx;
  }

  /** Takes a slot's budget for one message: 0 when it may go now, else milliseconds to wait. */
  async take(slot: ProviderSlot, now: Date): Promise<number> {
    const limiter = await this.#limiter(slot, now);
    return limiter?.take(now) ?? 0;
  }

  /** Writes back what every budget used in this claim. */
  async save(): Promise<void> {
    for (const b of this.#budgets.values())
      await saveDeliveryBudget(this.#tx, b.slot.workspaceId, {
        channel: b.slot.channel,
        limitsKey: b.limitsKey,
        state: b.limiter.state(),
      });
  }

  async #limiter(
    slot: ProviderSlot,
    now: Date,
  ): Promise<RateLimiter | undefined> {
    const limits = slot.limits;
    if (!limits || !(limits.perSecond || limits.perHour || limits.perDay))
      return undefined;
    const known = this.#budgets.get(slot.key);
    if (known) return known.limiter;
    const tx = this.#tx;
    const { workspaceId, channel } = slot;
    const limitsKey = JSON.stringify(limits);
    await ensureDeliveryBudget(tx, workspaceId, channel);
    const row = await lockDeliveryBudget(tx, workspaceId, channel);
    let limiter: RateLimiter;
    if (row?.state && row.limits_key === limitsKey)
      limiter = RateLimiter.restore(limits, row.state);
    else {
      const hour = await countSentSince(
        tx,
        workspaceId,
        channel,
        new Date(now.getTime() - 3_600_000),
      );
      const day = await countSentSince(
        tx,
        workspaceId,
        channel,
        new Date(now.getTime() - 86_400_000),
      );
      limiter = new RateLimiter(limits, now, { hour, day });
    }
    this.#budgets.set(slot.key, { slot, limitsKey, limiter });
    return limiter;
  }
}

/** A channel's configured limits. */
function limitsOf(settings: MessagingSettings, channel: MessageChannel) {
  switch (channel) {
    case "email":
      return settings.email?.limits;
    case "sms":
      return settings.sms?.limits;
    case "push":
      return settings.push?.limits;
    case "telegram":
      return settings.telegram?.limits;
    case "webhook":
      return settings.webhooks?.limits;
  }
}
