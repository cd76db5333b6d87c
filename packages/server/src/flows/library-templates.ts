import type { TemplateContent } from "@herald/core/templates/template";

/**
 * The starter content of the flow library: short, editable emails and texts that use the
 * built-in partials (head, header, footer, product card), product blocks and coupons.
 * Every marketing email carries the footer with its unsubscribe and preference links.
 */

function email(
  subject: string,
  preheader: string,
  body: string,
): TemplateContent {
  return {
    channel: "email",
    content: {
      subject,
      preheader,
      mjml: `<mjml>
  <mj-head>{% include "head" %}</mj-head>
  <mj-body background-color="#f4f4f4">
    {% include "header" %}
${body}
    {% include "footer" %}
  </mj-body>
</mjml>`,
    },
  };
}

function sms(text: string): TemplateContent {
  return { channel: "sms", content: { text } };
}

const hi = `{{ first_name | default: "there" }}`;

/** A text section: a heading, paragraphs and an optional button. */
function section(
  heading: string,
  paragraphs: string[],
  button?: { label: string; href: string },
): string {
  const lines = [
    ...(heading
      ? [`        <mj-text font-size="20px">${heading}</mj-text>`]
      : []),
    ...paragraphs.map((p) => `        <mj-text>${p}</mj-text>`),
    ...(button
      ? [`        <mj-button href="${button.href}">${button.label}</mj-button>`]
      : []),
  ];
  return `    <mj-section>
      <mj-column>
${lines.join("\n")}
      </mj-column>
    </mj-section>`;
}

/** A block of products from a source (`event`, `bestsellers`, `upsell`…). */
function products(source: string, options = "", title = ""): string {
  return `    {% products "${source}"${options ? ` ${options}` : ""} as items %}
    {% if items.size > 0 %}${title ? `\n    <mj-section><mj-column><mj-text font-size="18px">${title}</mj-text></mj-column></mj-section>` : ""}
    {% for product in items %}{% include "product-card" %}{% endfor %}
    {% endif %}`;
}

const shop = { label: "Visit the shop", href: "{{ store.url }}" };
const cart = {
  label: "Return to your cart",
  href: "{{ event.cart_url | default: event.checkout_url | default: store.url }}",
};

/** Every template of the library, by key. */
export const libraryTemplates: Record<
  string,
  { name: string; template: TemplateContent }
> = {
  welcome_1: {
    name: "Welcome 1 · welcome and coupon",
    template: email(
      "Welcome to {{ store.name | default: 'our shop' }}, " + hi,
      "A little something for your first order",
      `${section(
        `Welcome, ${hi}!`,
        [
          "We are glad you are here. As a thank-you for joining, here is 10% off your first order:",
          `{% coupon "WELCOME10" as coupon %}<strong style="font-size:18px">{{ coupon.code }}</strong>{% if coupon.expires_at %}<br />valid until {{ coupon.expires_at | format_date: "long" }}{% endif %}`,
        ],
        shop,
      )}`,
    ),
  },
  welcome_2: {
    name: "Welcome 2 · bestsellers",
    template: email(
      "What everyone is buying",
      "Our bestsellers this month",
      `${section("Our bestsellers", ["The pieces our customers come back for."])}\n${products("bestsellers", "limit: 4")}`,
    ),
  },
  welcome_3: {
    name: "Welcome 3 · our story",
    template: email(
      "The story behind {{ store.name | default: 'our shop' }}",
      "Who we are and why we do it",
      section(
        `Hi ${hi}, a little about us`,
        [
          "We started this shop because we wanted things that last, made by people who care.",
          "Every product is chosen by hand, tested, and sent with care.",
        ],
        shop,
      ),
    ),
  },
  welcome_4: {
    name: "Welcome 4 · picked for you",
    template: email(
      "Picked for you, " + hi,
      "Based on what you looked at",
      `${section("Picked for you", ["A few things we think you will like."])}\n${products("recently_viewed", "limit: 2")}\n${products("also_viewed", "limit: 2")}`,
    ),
  },
  welcome_5: {
    name: "Welcome 5 · current offers",
    template: email(
      "Don't miss what's on offer",
      "Current offers before they are gone",
      `${section("On offer now", ["These are on offer for a short time only."], shop)}\n${products("trending", "limit: 4")}`,
    ),
  },
  first_purchase: {
    name: "First purchase · thank you",
    template: email(
      "Thank you for your first order, " + hi,
      "We are so glad you chose us",
      `${section(`Thank you, ${hi}!`, ["Your first order means a lot to us. We will let you know the moment it ships.", "Questions? Just reply to this email: a real person reads it."])}\n${products("event", "", "What you ordered")}`,
    ),
  },
  browse_1: {
    name: "Browse abandonment · still interested?",
    template: email(
      "Still thinking about it?",
      "The things you were looking at",
      `${section(`Still looking, ${hi}?`, ["You were looking at these. They are still here, for now."])}\n${products("recently_viewed", "limit: 2 include_out_of_stock: false")}\n${products("also_viewed", "limit: 2", "You might also like")}`,
    ),
  },
  cart_1: {
    name: "Abandoned cart 1 · you left something",
    template: email(
      "You left something in your cart",
      "Your cart is saved",
      `${section(`${hi}, your cart is waiting`, ["We saved the items in your cart so you can pick up where you left off."])}\n${products("event")}\n${section("", [], cart)}`,
    ),
  },
  cart_2: {
    name: "Abandoned cart 2 · still in your cart",
    template: email(
      "Your cart is still here",
      "Complete your order before it sells out",
      `${section("Still in your cart", ["Stock moves fast: complete your order while everything is available."])}\n${products("event")}\n${section("", [], cart)}\n${products("bought_together", "limit: 2", "Goes well with")}`,
    ),
  },
  cart_sms: {
    name: "Abandoned cart · SMS reminder",
    template: sms(
      "{{ store.name }}: {{ first_name | default: 'Hi' }}, your cart is waiting: {{ event.cart_url | default: store.url }} Reply STOP to opt out",
    ),
  },
  cart_3: {
    name: "Abandoned cart 3 · a little incentive",
    template: email(
      "10% off to complete your order",
      "Your last reminder, with a discount",
      `${section(`A little nudge, ${hi}`, ["Here is 10% off the items in your cart, valid for 48 hours:", `<strong style="font-size:18px">{{ event.coupons.CART10 }}</strong>`])}\n${products("event")}\n${section("", [], cart)}`,
    ),
  },
  checkout_1: {
    name: "Abandoned checkout 1 · almost there",
    template: email(
      "You're one step away",
      "Finish your checkout",
      `${section("Almost there", ["You were just one step from completing your order."])}\n${products("event")}\n${section("", [], { label: "Complete checkout", href: "{{ event.checkout_url | default: store.url }}" })}`,
    ),
  },
  checkout_2: {
    name: "Abandoned checkout 2 · reminder",
    template: email(
      "Your checkout is saved",
      "Pick up where you left off",
      `${section("Your checkout is saved", ["Need help with payment or shipping? Reply to this email and we will sort it out."])}\n${products("event")}\n${section("", [], { label: "Complete checkout", href: "{{ event.checkout_url | default: store.url }}" })}`,
    ),
  },
  checkout_sms: {
    name: "Abandoned checkout · SMS reminder",
    template: sms(
      "{{ store.name }}: your checkout is saved: {{ event.checkout_url | default: store.url }} Reply STOP to opt out",
    ),
  },
  checkout_3: {
    name: "Abandoned checkout 3 · free shipping",
    template: email(
      "Free shipping on your order",
      "Your last reminder",
      `${section("On us: free shipping", ["Complete your order with this code for free shipping:", `<strong style="font-size:18px">{{ event.coupons.CHECKOUTSHIP }}</strong>`])}\n${products("event")}\n${section("", [], { label: "Complete checkout", href: "{{ event.checkout_url | default: store.url }}" })}`,
    ),
  },
  upsell: {
    name: "Upsell · the upgrade",
    template: email(
      "Have you seen the upgrade?",
      "A step up from what is in your cart",
      `${section(`Thinking bigger, ${hi}?`, ["For a little more, you get a lot more:"])}\n${products("upsell", "limit: 2")}`,
    ),
  },
  cross_sell_1: {
    name: "Cross-sell 1 · goes well with",
    template: email(
      "Goes perfectly with your order",
      "Complete the set",
      `${section("Complete the set", ["Customers who bought what you bought also love these:"])}\n${products("cross_sell", "limit: 3")}`,
    ),
  },
  cross_sell_2: {
    name: "Cross-sell 2 · more for you",
    template: email(
      "More you might like, " + hi,
      "Fresh picks for you",
      `${section("Fresh picks", ["New ideas based on your order."])}\n${products("bought_together", "limit: 3")}`,
    ),
  },
  review_ask: {
    name: "Review request · how was it?",
    template: email(
      "How do you like it, " + hi + "?",
      "Tell us in one click",
      `${section("How was your order?", ["Your opinion helps other shoppers and helps us do better. It takes a minute."], { label: "Write a review", href: "{{ store.url }}/reviews?order={{ event.order_id }}" })}\n${products("event")}`,
    ),
  },
  review_reminder: {
    name: "Review request · reminder",
    template: email(
      "A minute for a review?",
      "We would love to hear from you",
      section(
        `Hi ${hi}`,
        ["If you have a minute, tell us how your order worked out for you."],
        {
          label: "Write a review",
          href: "{{ store.url }}/reviews?order={{ event.order_id }}",
        },
      ),
    ),
  },
  review_thanks: {
    name: "Review · thank you",
    template: email(
      "Thank you for your review!",
      "It means a lot",
      section(
        `Thank you, ${hi}!`,
        ["We are thrilled you like it. Reviews like yours help us grow."],
        shop,
      ),
    ),
  },
  review_sorry: {
    name: "Review · let us make it right",
    template: email(
      "We're sorry, let us make it right",
      "Tell us what went wrong",
      section(`${hi}, we are sorry`, [
        "We read your review and we want to fix this. Reply to this email and tell us what happened: we will replace, refund or repair.",
      ]),
    ),
  },
  replenish: {
    name: "Replenishment · running low?",
    template: email(
      "Running low, " + hi + "?",
      "Reorder in one click",
      `${section("Time to stock up?", ["By our count you will run out soon. Reorder now and it arrives in time."])}\n${products("replenishment", "limit: 3")}`,
    ),
  },
  birthday: {
    name: "Birthday · a gift",
    template: email(
      "Happy birthday, " + hi + "! A gift for you",
      "15% off, just for you",
      section(
        `Happy birthday, ${hi}!`,
        [
          "To celebrate, here is 15% off anything in the shop, valid for two weeks:",
          `<strong style="font-size:18px">{{ event.coupons.BIRTHDAY }}</strong>`,
        ],
        shop,
      ),
    ),
  },
  birthday_reminder: {
    name: "Birthday · reminder of the gift",
    template: email(
      "Your birthday gift is waiting",
      "Your code expires soon",
      section(
        `Don't forget your gift, ${hi}`,
        [
          "Your birthday code is still waiting:",
          `<strong>{{ event.coupons.BIRTHDAY }}</strong>`,
        ],
        shop,
      ),
    ),
  },
  referral_invite: {
    name: "Referral · invite a friend",
    template: email(
      "Share the love, get a reward",
      "Give a friend 10%, get 10%",
      section(
        `Glad you love it, ${hi}!`,
        [
          "Invite a friend: they get 10% off their first order and you get a reward when they buy.",
        ],
        {
          label: "Invite a friend",
          href: "{{ store.url }}/refer?ref={{ profile.id }}",
        },
      ),
    ),
  },
  referral_reward: {
    name: "Referral · your reward",
    template: email(
      "Your friend ordered: here is your reward",
      "Thank you for spreading the word",
      section(
        `Thank you, ${hi}!`,
        [
          "Your friend just placed their first order. Here is your reward:",
          `<strong style="font-size:18px">{{ event.coupons.REFERRAL }}</strong>`,
        ],
        shop,
      ),
    ),
  },
  vip_invite: {
    name: "VIP · welcome to the club",
    template: email(
      "You're a VIP now, " + hi,
      "Early access, free shipping and more",
      section(
        `Welcome to the VIP club, ${hi}`,
        [
          "You are one of our best customers. From now on you get early access to new arrivals, free shipping and a birthday gift.",
        ],
        shop,
      ),
    ),
  },
  winback_1: {
    name: "Win-back 1 · we miss you",
    template: email(
      "We miss you, " + hi,
      "15% off to welcome you back",
      `${section("It's been a while", ["A lot has changed since your last visit. Come back with 15% off:", `<strong style="font-size:18px">{{ event.coupons.COMEBACK15 }}</strong>`], shop)}\n${products("trending", "limit: 3", "New and popular")}`,
    ),
  },
  winback_2: {
    name: "Win-back 2 · reminder",
    template: email(
      "Your 15% is still waiting",
      "Don't let it expire",
      section(
        `Still here for you, ${hi}`,
        [
          "Your welcome-back code is still valid:",
          `<strong>{{ event.coupons.COMEBACK15 }}</strong>`,
        ],
        shop,
      ),
    ),
  },
  winback_3: {
    name: "Win-back 3 · do you still want to hear from us?",
    template: email(
      "Should we stay in touch?",
      "One click keeps you on the list",
      section(
        `${hi}, do you still want our emails?`,
        [
          "We don't want to fill your inbox if you have lost interest. Click below to keep hearing from us; otherwise we will stop writing next week.",
        ],
        { label: "Yes, keep me on the list", href: "{{ store.url }}" },
      ),
    ),
  },
  back_in_stock: {
    name: "Back in stock",
    template: email(
      "It's back: {{ event.product.name }}",
      "Back in stock, but not for long",
      section(
        `Good news, ${hi}`,
        [
          "<strong>{{ event.product.name }}</strong> is back in stock. It sold out fast last time.",
        ],
        {
          label: "Get it now",
          href: "{{ event.product.url | default: store.url }}",
        },
      ),
    ),
  },
  price_drop: {
    name: "Price drop",
    template: email(
      "Price drop: {{ event.product.name }}",
      "Now {{ event.product.price | money }}",
      section(
        `The price just dropped, ${hi}`,
        [
          "<strong>{{ event.product.name }}</strong> is now {{ event.product.price | money }}{% if event.product.previous_price %} (was {{ event.product.previous_price | money }}){% endif %}.",
        ],
        {
          label: "See it",
          href: "{{ event.product.url | default: store.url }}",
        },
      ),
    ),
  },
  seasonal: {
    name: "Seasonal offer · Thanksgiving",
    template: email(
      "Our Thanksgiving offer, " + hi,
      "Thankful for you: our best prices of the season",
      `${section("Happy Thanksgiving!", ["We are thankful for customers like you. Our best prices of the season, this weekend only."], shop)}\n${products("bestsellers", "limit: 4")}`,
    ),
  },
  confirmation: {
    name: "Order confirmation",
    template: email(
      "Order {{ event.order_number | default: event.order_id }} confirmed",
      "Thank you for your order",
      `${section(`Thank you, ${hi}!`, ["Order <strong>{{ event.order_number | default: event.order_id }}</strong> is confirmed. We will let you know when it ships."])}\n${products("event")}
    <mj-section><mj-column><mj-table>
      {% if event.shipping %}<tr><td>Shipping</td><td align="right">{{ event.shipping | money }}</td></tr>{% endif %}
      {% if event.tax %}<tr><td>Tax</td><td align="right">{{ event.tax | money }}</td></tr>{% endif %}
      <tr><td><strong>Total</strong></td><td align="right"><strong>{{ event.total | default: event.revenue | money }}</strong></td></tr>
    </mj-table></mj-column></mj-section>`,
    ),
  },
  shipped: {
    name: "Order shipped",
    template: email(
      "Order {{ event.order_id }} is on its way",
      "Track your parcel",
      section(
        "Your order is on its way",
        [
          "{% if event.carrier %}{{ event.carrier }} tracking number{% else %}Tracking number{% endif %}: <strong>{{ event.tracking_number }}</strong>",
        ],
        {
          label: "Track your parcel",
          href: "{{ event.tracking_url | default: store.url }}",
        },
      ),
    ),
  },
  delivered: {
    name: "Order delivered",
    template: email(
      "Your order has arrived",
      "We hope you love it",
      section(`It's there, ${hi}!`, [
        "Order {{ event.order_id }} was delivered. We hope you love it. Anything not right? Just reply.",
      ]),
    ),
  },
  pickup: {
    name: "Ready for pickup",
    template: email(
      "Order {{ event.order_id }} is ready for pickup",
      "Bring your order number",
      section(`Ready when you are, ${hi}`, [
        "Your order <strong>{{ event.order_id }}</strong> is ready for pickup{% if event.location %} at {{ event.location }}{% endif %}. Bring this email or your order number.",
      ]),
    ),
  },
  pickup_reminder: {
    name: "Ready for pickup · reminder",
    template: email(
      "Reminder: your order is waiting",
      "We keep orders for 7 days",
      section("Your order is still waiting", [
        "We keep orders for 7 days. Please collect order <strong>{{ event.order_id }}</strong> soon so we do not have to send it back.",
      ]),
    ),
  },
  nps_ask: {
    name: "NPS · how likely are you to recommend us?",
    template: email(
      "One question, " + hi,
      "How likely are you to recommend us?",
      `${section("How likely are you to recommend us to a friend?", ["0 is not at all, 10 is extremely likely."])}
    <mj-section><mj-column><mj-text align="center">{% for score in (0..10) %}<a href="{{ store.url }}/survey?survey=nps&amp;score={{ score }}&amp;p={{ profile.id }}" style="display:inline-block;padding:6px 8px;border:1px solid #ccc;margin:2px">{{ score }}</a>{% endfor %}</mj-text></mj-column></mj-section>`,
    ),
  },
  nps_sorry: {
    name: "NPS · sorry to hear it",
    template: email(
      "We're sorry we let you down",
      "Help us do better",
      section(`Thank you for being honest, ${hi}`, [
        "We are sorry we fell short. Someone from our team will be in touch; or reply to tell us what happened.",
      ]),
    ),
  },
  nps_thanks: {
    name: "NPS · thank you",
    template: email(
      "Thank you for your answer",
      "It helps us a lot",
      section(
        `Thank you, ${hi}`,
        ["Your answer helps us get better every week."],
        shop,
      ),
    ),
  },
  nps_promoter: {
    name: "NPS · thank you, and share the love",
    template: email(
      "You made our day, " + hi,
      "Share the love with a friend",
      section(
        "You made our day!",
        [
          "Thank you! If you have a friend who would love us too, here is a link to share: they get 10% off.",
        ],
        {
          label: "Invite a friend",
          href: "{{ store.url }}/refer?ref={{ profile.id }}",
        },
      ),
    ),
  },
};
