import type { StoredEvent } from "@herald/core/events/event";
import type { Profile } from "@herald/core/profiles/profile";
import type { Tx } from "../db/database.ts";

// The contract between the event processor and the features that react to events, at
// the bottom of the import graph beside `Worker`: features implement it, main.ts
// registers them with `EventProcessor.addHandler`, and no feature imports the processor.

/** One event as the handlers see it, on its canonical profile. */
export interface ProcessedEvent {
  event: StoredEvent;
  /** The profile before and after this event. */
  previous: Profile;
  profile: Profile;
  /** For `Order Completed`: true when it placed a new order, false when the order was known already. */
  newOrder?: boolean;
}

/** A merge the processor performed. */
export interface MergeInfo {
  workspaceId: string;
  survivorId: string;
  mergedId: string;
}

/** What the handlers get besides the events. */
export interface BatchContext {
  now: Date;
  /** Every profile the batch touched, in its final state, by id. */
  profiles: ReadonlyMap<string, Profile>;
  /**
   * Profiles whose order figures another profile's event changed (an order cancelled or
   * refunded by someone else); their own events' before and after do not show it.
   */
  ordersChanged: ReadonlySet<string>;
}

/** A feature that reacts to processed events, inside the processing transaction. */
export interface EventHandler {
  readonly name: string;
  /** A workspace's processed events of one batch, in order. */
  handle(
    tx: Tx,
    workspaceId: string,
    events: ProcessedEvent[],
    context: BatchContext,
  ): Promise<void>;
  /** Moves the feature's rows of a merged profile to the survivor. */
  merge?(tx: Tx, merge: MergeInfo, now: Date): Promise<void>;
}
