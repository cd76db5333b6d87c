import type { NewCouponPool } from "@herald/core/coupons/coupons";
import type { FlowDefinition, FlowNode } from "@herald/core/flows/definition";

/**
 * The flow library: ready, editable flows for the playbooks stores run, each with its
 * starter templates, the coupon pools it uses and, where it needs one, its segment.
 * `installFlow` (library-install.ts) creates what is missing and the flow as a draft.
 */

/** A segment a library flow needs, in the segment condition language. */
export interface LibrarySegment {
  key: string;
  name: string;
  description: string;
  condition: unknown;
}

/** A library flow. */
export interface LibraryFlow {
  name: string;
  title: string;
  /** One paragraph: what it does and when. */
  description: string;
  /** The library templates it sends (keys of library-templates.ts). */
  templates: string[];
  pools: NewCouponPool[];
  segments: LibrarySegment[];
  /** The definition, given the ids of the templates and segments installed for it. */
  define(ids: {
    template: (key: string) => string;
    segment: (key: string) => string;
    now: Date;
  }): FlowDefinition;
}

const days = (n: number) => ({ days: n });
const hours = (n: number) => ({ hours: n });
const minutes = (n: number) => ({ minutes: n });
const exit: FlowNode = { type: "exit" };
const send = (
  templateId: string,
  next: string,
  extra: Partial<Extract<FlowNode, { type: "send" }>> = {},
): FlowNode => ({ type: "send", channel: "email", templateId, next, ...extra });

const pool = (
  id: string,
  percent: number,
  expiresAfterDays: number,
  description: string,
): NewCouponPool => ({
  id,
  kind: "generated",
  description,
  prefix: `${id}-`,
  codeLength: 8,
  expiresAfterDays,
  value: { type: "percent", amount: percent },
});

/** The fourth Thursday of November after `now`, at 10:00 UTC. */
function nextThanksgiving(now: Date): string {
  for (let year = now.getUTCFullYear(); ; year++) {
    const first = new Date(Date.UTC(year, 10, 1));
    const firstThursday = 1 + ((4 - first.getUTCDay() + 7) % 7);
    const day = new Date(Date.UTC(year, 10, firstThursday + 21, 10, 0));
    if (day.getTime() > now.getTime()) return day.toISOString();
  }
}

/**
 * A reminder flow for carts or checkouts: 1 h, 24 h (SMS when there is a phone), 48 h with
 * an incentive. The goal (an order for that cart) ends the run wherever it waits: a buyer
 * gets nothing more from it, and the receipt comes from the order confirmation flow.
 */
function abandonment(kind: "cart" | "checkout"): LibraryFlow {
  const cart = kind === "cart";
  const key = cart ? "cart_id" : "checkout_id";
  const coupon = cart ? "CART10" : "CHECKOUTSHIP";
  return {
    name: cart ? "abandoned-cart" : "abandoned-checkout",
    title: cart ? "Abandoned cart" : "Abandoned checkout",
    description: cart
      ? "When a shopper adds to a cart and does not order: an email after an hour, an SMS (or a second email when there is no phone) after a day, and a last email with a 10% code after two days. An order for that cart at any point ends the run, with nothing more sent (the order confirmation flow sends the receipt); one run per cart."
      : "The same shape for checkouts that were started and not finished: an email after an hour, an SMS or email after a day, and a free-shipping code after two days. An order from that checkout ends the run, with nothing more sent.",
    templates: cart
      ? ["cart_1", "cart_2", "cart_sms", "cart_3"]
      : ["checkout_1", "checkout_2", "checkout_sms", "checkout_3"],
    pools: [
      pool(
        coupon,
        cart ? 10 : 5,
        2,
        cart
          ? "10% off a forgotten cart"
          : "Free shipping for a forgotten checkout",
      ),
    ],
    segments: [],
    define: ({ template }) => ({
      name: cart ? "Abandoned cart" : "Abandoned checkout",
      trigger: {
        type: "event",
        event: cart ? "Product Added" : "Checkout Started",
        correlation: key,
      },
      start: "wait_1h",
      nodes: {
        wait_1h: { type: "wait", duration: hours(1), next: "email_1" },
        email_1: send(template(cart ? "cart_1" : "checkout_1"), "wait_24h"),
        wait_24h: { type: "wait", duration: hours(23), next: "channel" },
        channel: {
          type: "split",
          branches: [
            {
              label: "has a phone",
              when: { property: "profile.phone", op: "exists" },
              next: "sms",
            },
          ],
          otherwise: "email_2",
        },
        sms: {
          type: "send",
          channel: "sms",
          templateId: template(cart ? "cart_sms" : "checkout_sms"),
          next: "wait_48h",
        },
        email_2: send(template(cart ? "cart_2" : "checkout_2"), "wait_48h"),
        wait_48h: { type: "wait", duration: hours(24), next: "coupon" },
        coupon: { type: "coupon", poolId: coupon, next: "email_3" },
        email_3: send(template(cart ? "cart_3" : "checkout_3"), "done"),
        done: exit,
      },
      settings: {
        goal: { event: "Order Completed", matchCorrelation: true },
        reentry: { policy: "one_active_per_key" },
        conversionWindowDays: 5,
      },
    }),
  };
}

/** A one-step transactional flow: an order event, one message. */
function transactional({
  name,
  title,
  event,
  templateKey,
  description,
}: {
  name: string;
  title: string;
  event: string;
  templateKey: string;
  description: string;
}): LibraryFlow {
  return {
    name,
    title,
    description,
    templates: [templateKey],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: title,
      trigger: { type: "event", event },
      start: "send",
      nodes: {
        send: send(template(templateKey), "done", { transactional: true }),
        done: exit,
      },
      settings: {
        reentry: { policy: "every_time" },
        obeyFrequencyCap: false,
        obeyQuietHours: false,
      },
    }),
  };
}

/** Every flow of the library, by name. */
export const libraryFlows: LibraryFlow[] = [
  {
    name: "welcome",
    title: "Welcome series",
    description:
      "For new subscribers (a `Signed Up` event): a welcome with a unique 10% first-order code at once, then bestsellers after 3 days, the store's story after 7, personal picks after 10 and current offers after 20. A first order ends the series and counts as its conversion.",
    templates: [
      "welcome_1",
      "welcome_2",
      "welcome_3",
      "welcome_4",
      "welcome_5",
    ],
    pools: [pool("WELCOME10", 10, 30, "10% off a first order")],
    segments: [],
    define: ({ template }) => ({
      name: "Welcome series",
      trigger: { type: "event", event: "Signed Up" },
      start: "welcome",
      nodes: {
        welcome: send(template("welcome_1"), "day_3"),
        day_3: { type: "wait", duration: days(3), next: "bestsellers" },
        bestsellers: send(template("welcome_2"), "day_7"),
        day_7: { type: "wait", duration: days(4), next: "story" },
        story: send(template("welcome_3"), "day_10"),
        day_10: { type: "wait", duration: days(3), next: "picks" },
        picks: send(template("welcome_4"), "day_20"),
        day_20: { type: "wait", duration: days(10), next: "offers" },
        offers: send(template("welcome_5"), "done"),
        done: exit,
      },
      settings: {
        goal: { event: "Order Completed" },
        reentry: { policy: "once" },
      },
    }),
  },
  {
    name: "first-purchase",
    title: "First-purchase thank-you",
    description:
      "Thanks a shopper for their very first order (and only the first), with what they bought.",
    templates: ["first_purchase"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "First-purchase thank-you",
      trigger: { type: "event", event: "Order Completed" },
      start: "first",
      nodes: {
        first: {
          type: "split",
          branches: [
            {
              label: "first order",
              when: { property: "profile.orderCount", op: "eq", value: 1 },
              next: "thanks",
            },
          ],
          otherwise: "done",
        },
        thanks: send(template("first_purchase"), "done"),
        done: exit,
      },
      settings: { reentry: { policy: "every_time" } },
    }),
  },
  {
    name: "browse-abandonment",
    title: "Browse abandonment",
    description:
      "A shopper looked at a product for more than a minute (`view_seconds` on Product Viewed) or viewed products twice within half an hour, then left without adding anything to the cart: an hour later, a reminder with what they viewed and similar products. A single glance gets nothing; adding to the cart or ordering ends it; at most once a week per shopper.",
    templates: ["browse_1"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "Browse abandonment",
      trigger: { type: "event", event: "Product Viewed" },
      start: "interested",
      nodes: {
        interested: {
          type: "split",
          branches: [
            {
              label: "looked for a minute",
              when: { property: "event.view_seconds", op: "gte", value: 60 },
              next: "wait",
            },
          ],
          otherwise: "again",
        },
        again: {
          type: "wait_for_event",
          event: "Product Viewed",
          timeout: minutes(30),
          next: "wait",
          timeoutNext: "done",
        },
        wait: {
          type: "wait_for_event",
          event: "Product Added",
          timeout: hours(1),
          next: "done",
          timeoutNext: "ordered",
        },
        ordered: {
          type: "split",
          branches: [
            {
              label: "ordered meanwhile",
              when: { didEvent: "Order Completed" },
              next: "done",
            },
          ],
          otherwise: "remind",
        },
        remind: send(template("browse_1"), "done"),
        done: exit,
      },
      settings: {
        exitWhen: [{ event: "Product Added" }, { event: "Order Completed" }],
        goal: { event: "Order Completed" },
        reentry: { policy: "once_per", days: 7 },
      },
    }),
  },
  abandonment("cart"),
  abandonment("checkout"),
  {
    name: "upsell",
    title: "Upsell",
    description:
      "When a shopper adds a product that has a better sibling (same category, higher price: the 256 GB phone next to the 64 GB), and has not ordered two hours later, an email shows the step up. Nothing is sent when there is no upgrade to offer.",
    templates: ["upsell"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "Upsell",
      trigger: { type: "event", event: "Product Added" },
      start: "has_upgrade",
      nodes: {
        has_upgrade: {
          type: "split",
          branches: [
            {
              label: "has an upgrade",
              when: { recommends: "upsell" },
              next: "wait",
            },
          ],
          otherwise: "done",
        },
        wait: {
          type: "wait_for_event",
          event: "Order Completed",
          timeout: hours(2),
          next: "done",
          timeoutNext: "offer",
        },
        offer: send(template("upsell"), "done"),
        done: exit,
      },
      settings: {
        goal: { event: "Order Completed" },
        reentry: { policy: "once_per", days: 14 },
      },
    }),
  },
  {
    name: "cross-sell",
    title: "Cross-sell",
    description:
      "A day after an order, products from the categories that go with it (learned from what customers buy together); two weeks later a second series. A new order ends it.",
    templates: ["cross_sell_1", "cross_sell_2"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "Cross-sell",
      trigger: { type: "event", event: "Order Completed" },
      start: "has_pairs",
      nodes: {
        has_pairs: {
          type: "split",
          branches: [
            {
              label: "has pairings",
              when: { recommends: "cross_sell" },
              next: "day_1",
            },
          ],
          otherwise: "done",
        },
        day_1: { type: "wait", duration: days(1), next: "first" },
        first: send(template("cross_sell_1"), "day_15"),
        day_15: { type: "wait", duration: days(14), next: "second" },
        second: send(template("cross_sell_2"), "done"),
        done: exit,
      },
      settings: {
        exitWhen: [{ event: "Order Completed" }],
        reentry: { policy: "once_per", days: 30 },
      },
    }),
  },
  {
    name: "review-request",
    title: "Product review request",
    description:
      "After delivery, waits as long as the product needs to be tried (10 days for apparel, 3 weeks for durable goods, 2 weeks otherwise), then asks for a review. A rating of 4 or 5 gets a thank-you; 3 or less a make-it-right message and a note to the team; no answer in a week, one reminder.",
    templates: [
      "review_ask",
      "review_reminder",
      "review_thanks",
      "review_sorry",
    ],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "Product review request",
      trigger: { type: "event", event: "Order Delivered" },
      start: "by_type",
      nodes: {
        by_type: {
          type: "split",
          branches: [
            {
              label: "apparel",
              when: {
                any: [
                  {
                    property: "event.products.0.category",
                    op: "contains",
                    value: "apparel",
                  },
                  {
                    property: "event.products.0.category",
                    op: "contains",
                    value: "clothing",
                  },
                ],
              },
              next: "wait_apparel",
            },
            {
              label: "durable goods",
              when: {
                property: "event.products.0.category",
                op: "in",
                value: ["furniture", "electronics", "appliances", "tools"],
              },
              next: "wait_durable",
            },
          ],
          otherwise: "wait_other",
        },
        wait_apparel: { type: "wait", duration: days(10), next: "ask" },
        wait_durable: { type: "wait", duration: days(21), next: "ask" },
        wait_other: { type: "wait", duration: days(14), next: "ask" },
        ask: send(template("review_ask"), "answer"),
        answer: {
          type: "wait_for_event",
          event: "Product Reviewed",
          timeout: days(7),
          next: "rating",
          timeoutNext: "reminder",
        },
        rating: {
          type: "split",
          branches: [
            {
              label: "positive",
              when: {
                property: "run.data.last_event.rating",
                op: "gte",
                value: 4,
              },
              next: "thanks",
            },
          ],
          otherwise: "sorry",
        },
        thanks: send(template("review_thanks"), "done"),
        sorry: send(template("review_sorry"), "tell_team"),
        tell_team: {
          type: "notify",
          to: "team",
          subject: "A customer left a low rating",
          text: "A shopper rated an order 3 or less and got the make-it-right email. Please reach out.",
          next: "done",
        },
        reminder: send(template("review_reminder"), "done"),
        done: exit,
      },
      settings: { reentry: { policy: "every_time" } },
    }),
  },
  {
    name: "replenishment",
    title: "Replenishment reminder",
    description:
      "Reminds a shopper to reorder before they run out: quantity × days of use per unit, less 5 shipping days and 3 days to decide (100 capsules at one a day → day 92), or their own ordering interval for products without a days-of-use figure. Reordering ends it.",
    templates: ["replenish"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "Replenishment reminder",
      trigger: { type: "event", event: "Order Completed" },
      start: "until_low",
      nodes: {
        until_low: {
          type: "wait_replenishment",
          shippingDays: 5,
          leadDays: 3,
          fallbackDays: 30,
          next: "remind",
        },
        remind: send(template("replenish"), "done"),
        done: exit,
      },
      settings: {
        exitWhen: [{ event: "Order Completed" }],
        reentry: { policy: "every_time" },
      },
    }),
  },
  {
    name: "birthday",
    title: "Birthday",
    description:
      "A week before a shopper's birthday (the `birthday` trait, yyyy-mm-dd), at 10:00 their time: a unique 15% code valid for two weeks; five days later, a reminder if they have not ordered. Every year.",
    templates: ["birthday", "birthday_reminder"],
    pools: [pool("BIRTHDAY", 15, 14, "15% birthday gift")],
    segments: [],
    define: ({ template }) => ({
      name: "Birthday",
      trigger: {
        type: "date",
        trait: "birthday",
        offsetDays: -7,
        yearly: true,
        at: "10:00",
      },
      start: "gift",
      nodes: {
        gift: { type: "coupon", poolId: "BIRTHDAY", next: "greet" },
        greet: send(template("birthday"), "wait"),
        wait: { type: "wait", duration: days(5), next: "used" },
        used: {
          type: "split",
          branches: [
            {
              label: "ordered",
              when: { didEvent: "Order Completed" },
              next: "done",
            },
          ],
          otherwise: "remind",
        },
        remind: send(template("birthday_reminder"), "done"),
        done: exit,
      },
      settings: { goal: { event: "Order Completed" } },
    }),
  },
  {
    name: "referral",
    title: "Referral invitation",
    description:
      "Asks happy customers (a review of 4 or 5 stars) to invite a friend; when the store reports a `Referral Completed` event within 30 days, the referrer gets a 10% reward code. At most twice a year.",
    templates: ["referral_invite", "referral_reward"],
    pools: [pool("REFERRAL", 10, 60, "Referral reward")],
    segments: [],
    define: ({ template }) => ({
      name: "Referral invitation",
      trigger: {
        type: "event",
        event: "Product Reviewed",
        filters: [{ property: "rating", op: "gte", value: 4 }],
      },
      start: "invite",
      nodes: {
        invite: send(template("referral_invite"), "wait"),
        wait: {
          type: "wait_for_event",
          event: "Referral Completed",
          timeout: days(30),
          next: "reward",
          timeoutNext: "done",
        },
        reward: { type: "coupon", poolId: "REFERRAL", next: "thank" },
        thank: send(template("referral_reward"), "done"),
        done: exit,
      },
      settings: { reentry: { policy: "once_per", days: 180 } },
    }),
  },
  {
    name: "vip",
    title: "VIP invitation",
    description:
      "When an order takes a shopper to 5 orders or 500 in revenue, tags them `vip` and invites them to the VIP programme, once.",
    templates: ["vip_invite"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "VIP invitation",
      trigger: { type: "event", event: "Order Completed" },
      start: "qualifies",
      nodes: {
        qualifies: {
          type: "split",
          branches: [
            {
              label: "new VIP",
              when: {
                all: [
                  {
                    any: [
                      { property: "profile.orderCount", op: "gte", value: 5 },
                      { property: "profile.revenue", op: "gte", value: 500 },
                    ],
                  },
                  { property: "profile.traits.vip_since", op: "not_exists" },
                ],
              },
              next: "tag",
            },
          ],
          otherwise: "done",
        },
        tag: { type: "tag", action: "add", tag: "vip", next: "mark" },
        mark: {
          type: "update_profile",
          traits: { vip_since: "{{now}}" },
          next: "invite",
        },
        invite: send(template("vip_invite"), "done"),
        done: exit,
      },
      settings: { reentry: { policy: "every_time" } },
    }),
  },
  {
    name: "win-back",
    title: "Win-back with sunset",
    description:
      'Shoppers who have ordered before but not in the last 90 days (the segment is installed with it; change the number of days there to 30, 60 or 120): a 15% come-back code, a reminder a week later, then a week after that a "do you still want to hear from us?" email; those who do not click it within a week are unsubscribed from marketing email to protect deliverability. An order ends the run as a conversion.',
    templates: ["winback_1", "winback_2", "winback_3"],
    pools: [pool("COMEBACK15", 15, 21, "15% to come back")],
    segments: [
      {
        key: "lapsed",
        name: "Lapsed: no order in 90 days",
        description:
          "Ordered before, but not in the last 90 days (the win-back flow's audience).",
        condition: {
          type: "and",
          conditions: [
            { type: "attribute", attribute: "orderCount", op: "gte", value: 1 },
            {
              type: "attribute",
              attribute: "lastOrderAt",
              op: "more_than_days_ago",
              days: 90,
            },
          ],
        },
      },
    ],
    define: ({ template, segment }) => ({
      name: "Win-back with sunset",
      trigger: { type: "segment_entered", segmentId: segment("lapsed") },
      start: "code",
      nodes: {
        code: { type: "coupon", poolId: "COMEBACK15", next: "offer" },
        offer: send(template("winback_1"), "week_1"),
        week_1: {
          type: "wait_for_event",
          event: "Order Completed",
          timeout: days(7),
          next: "done",
          timeoutNext: "reminder",
        },
        reminder: send(template("winback_2"), "week_2"),
        week_2: {
          type: "wait_for_event",
          event: "Order Completed",
          timeout: days(7),
          next: "done",
          timeoutNext: "still_there",
        },
        still_there: send(template("winback_3"), "answer"),
        answer: {
          type: "wait_for_event",
          event: "Email Link Clicked",
          timeout: days(7),
          next: "done",
          timeoutNext: "sunset",
        },
        sunset: {
          type: "update_profile",
          traits: { email_consent: "unsubscribed", sunset_at: "{{now}}" },
          next: "done",
        },
        done: exit,
      },
      settings: {
        goal: { event: "Order Completed" },
        reentry: { policy: "once_per", days: 180 },
      },
    }),
  },
  {
    name: "back-in-stock",
    title: "Back in stock",
    description:
      "When a product comes back into stock, tells the shoppers who viewed it, wished for it or carted it in the last 30 days. At most once a week per shopper.",
    templates: ["back_in_stock"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "Back in stock",
      trigger: {
        type: "catalog",
        change: "back_in_stock",
        interestEvents: [
          "Product Viewed",
          "Product Added to Wishlist",
          "Product Added",
        ],
        withinDays: 30,
      },
      start: "tell",
      nodes: { tell: send(template("back_in_stock"), "done"), done: exit },
      settings: {
        goal: { event: "Order Completed" },
        reentry: { policy: "once_per", days: 7 },
      },
    }),
  },
  {
    name: "price-drop",
    title: "Price drop",
    description:
      "When a product's price drops by 10% or more, tells the shoppers who viewed or carted it in the last 30 days.",
    templates: ["price_drop"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "Price drop",
      trigger: {
        type: "catalog",
        change: "price_drop",
        minDropPercent: 10,
        interestEvents: ["Product Viewed", "Product Added"],
        withinDays: 30,
      },
      start: "tell",
      nodes: { tell: send(template("price_drop"), "done"), done: exit },
      settings: {
        goal: { event: "Order Completed" },
        reentry: { policy: "once_per", days: 7 },
      },
    }),
  },
  {
    name: "seasonal-offer",
    title: "Seasonal offer (Thanksgiving, US shoppers)",
    description:
      "On the next Thanksgiving at 10:00 in each shopper's own time zone, the season's offer to shoppers in the US only (the segment is installed with it). Change the date, the segment and the template for other seasons.",
    templates: ["seasonal"],
    pools: [],
    segments: [
      {
        key: "us",
        name: "Shoppers in the US",
        description: "Profiles whose country is the United States.",
        condition: {
          type: "attribute",
          attribute: "country",
          op: "equals",
          value: "US",
        },
      },
    ],
    define: ({ template, segment, now }) => ({
      name: "Seasonal offer",
      trigger: {
        type: "schedule",
        every: "once",
        start: nextThanksgiving(now),
        // 10:00 on the UTC calendar, then 10:00 in each shopper's own zone.
        timeZone: "UTC",
        segmentId: segment("us"),
        localTime: true,
      },
      start: "offer",
      nodes: { offer: send(template("seasonal"), "done"), done: exit },
      settings: { goal: { event: "Order Completed" } },
    }),
  },
  transactional({
    name: "order-confirmation",
    title: "Order confirmation",
    event: "Order Completed",
    templateKey: "confirmation",
    description:
      "The receipt for every order: its lines, shipping, tax and total. Transactional: sent regardless of marketing consent, frequency caps and quiet hours.",
  }),
  transactional({
    name: "order-shipped",
    title: "Order shipped",
    event: "Order Shipped",
    templateKey: "shipped",
    description:
      "Tells the shopper their order is on its way, with the carrier, the tracking number and the tracking link.",
  }),
  transactional({
    name: "order-delivered",
    title: "Order delivered",
    event: "Order Delivered",
    templateKey: "delivered",
    description:
      "Confirms the order arrived and invites a reply if anything is wrong.",
  }),
  {
    name: "ready-for-pickup",
    title: "Ready for pickup",
    description:
      "Tells the shopper their order is ready to collect; if the store has not reported it collected (`Order Picked Up`) within 3 days, a reminder before storage runs out.",
    templates: ["pickup", "pickup_reminder"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "Ready for pickup",
      trigger: {
        type: "event",
        event: "Order Ready for Pickup",
        correlation: "order_id",
      },
      start: "ready",
      nodes: {
        ready: send(template("pickup"), "wait", { transactional: true }),
        wait: {
          type: "wait_for_event",
          event: "Order Picked Up",
          matchCorrelation: true,
          timeout: days(3),
          next: "done",
          timeoutNext: "reminder",
        },
        reminder: send(template("pickup_reminder"), "done", {
          transactional: true,
        }),
        done: exit,
      },
      settings: {
        reentry: { policy: "one_active_per_key" },
        obeyFrequencyCap: false,
        obeyQuietHours: false,
      },
    }),
  },
  {
    name: "nps",
    title: "NPS survey",
    description:
      "A week after delivery, asks how likely the shopper is to recommend the store (0–10). The storefront reports the answer as `Survey Answered` (`score`). Detractors (0–6) get an apology and the team is told; promoters (9–10) get thanks and a referral link; the rest a thank-you.",
    templates: ["nps_ask", "nps_sorry", "nps_thanks", "nps_promoter"],
    pools: [],
    segments: [],
    define: ({ template }) => ({
      name: "NPS survey",
      trigger: { type: "event", event: "Order Delivered" },
      start: "week",
      nodes: {
        week: { type: "wait", duration: days(7), next: "ask" },
        ask: send(template("nps_ask"), "answer"),
        answer: {
          type: "wait_for_event",
          event: "Survey Answered",
          filters: [{ property: "survey", op: "eq", value: "nps" }],
          timeout: days(7),
          next: "score",
          timeoutNext: "done",
        },
        score: {
          type: "split",
          branches: [
            {
              label: "detractor",
              when: {
                property: "run.data.last_event.score",
                op: "lte",
                value: 6,
              },
              next: "sorry",
            },
            {
              label: "promoter",
              when: {
                property: "run.data.last_event.score",
                op: "gte",
                value: 9,
              },
              next: "promoter",
            },
          ],
          otherwise: "thanks",
        },
        sorry: send(template("nps_sorry"), "tell_team"),
        tell_team: {
          type: "notify",
          to: "team",
          subject: "NPS detractor",
          text: "A shopper answered the NPS survey with 6 or less. Please reach out.",
          next: "done",
        },
        promoter: send(template("nps_promoter"), "done"),
        thanks: send(template("nps_thanks"), "done"),
        done: exit,
      },
      settings: { reentry: { policy: "once_per", days: 90 } },
    }),
  },
];
