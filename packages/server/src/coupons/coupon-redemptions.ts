import { orderFromEvent } from "@herald/core/orders/orders";
import {
  forgetCodeOwners,
  listProfileCodes,
  moveCodes,
  redeemCode,
} from "./coupons.sql.ts";
import type { PersonalData } from "../profiles/profile-store.ts";
import type { EventHandler } from "../workers/event-handler.ts";

/**
 * Records coupon redemptions from `Order Completed`'s `coupon` property (several codes
 * may be sent comma-separated) when the order is new, so a re-sent order redeems nothing
 * twice. Codes Herald does not know (store-wide codes) are ignored.
 */
export const couponRedemptions: EventHandler = {
  name: "coupon-redemptions",
  async handle(tx, workspaceId, events) {
    for (const item of events) {
      const { event } = item;
      if (event.type !== "track" || event.name !== "Order Completed") continue;
      if (item.newOrder !== true) continue;
      const order = orderFromEvent(event);
      if (!order.coupon) continue;
      for (const code of order.coupon.split(",").map((c) => c.trim()))
        if (code)
          await redeemCode(tx, workspaceId, {
            code,
            orderId: order.orderId,
            profileId: event.profileId,
            at: event.timestamp,
          });
    }
  },
  async merge(tx, merge) {
    await moveCodes(tx, merge.workspaceId, merge.mergedId, merge.survivorId);
  },
};

/**
 * The coupon codes issued to a shopper, for privacy export and erasure. Erasure forgets
 * the owner but keeps the code, so it is never handed to someone else.
 */
export const couponCodesData: PersonalData = {
  name: "couponCodes",
  export: (q, workspaceId, profileIds) =>
    listProfileCodes(q, workspaceId, profileIds),
  erase: (tx, workspaceId, profileIds) =>
    forgetCodeOwners(tx, workspaceId, profileIds),
};
