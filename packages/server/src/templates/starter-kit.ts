import type { TemplateContent } from "@herald/core/templates/template";

/**
 * The seed content every workspace starts with: partials (header, footer, product card)
 * that any template may include, and starter templates to copy. A workspace that saves a
 * partial of the same name uses its own instead. The MJML keeps to single-column sections
 * and two-column product rows, which render alike in Gmail, Apple Mail and Outlook.
 */

/** Built-in partials, by name. */
export const builtInPartials: ReadonlyMap<string, string> = new Map([
  [
    "head",
    `<mj-attributes>
  <mj-all font-family="Helvetica, Arial, sans-serif" />
  <mj-text font-size="15px" line-height="22px" color="#222222" />
  <mj-button background-color="#111111" color="#ffffff" font-size="15px" border-radius="4px" />
  <mj-section background-color="#ffffff" />
</mj-attributes>
<mj-style>a { color: #111111; }</mj-style>`,
  ],
  [
    "header",
    `<mj-section padding="24px 0 8px">
  <mj-column>
    <mj-text align="center" font-size="22px" font-weight="bold">{% if store.url %}<a href="{{ store.url }}" style="text-decoration:none">{{ store.name | default: "Our store" }}</a>{% else %}{{ store.name | default: "Our store" }}{% endif %}</mj-text>
  </mj-column>
</mj-section>`,
  ],
  [
    "footer",
    `<mj-section padding="24px 0">
  <mj-column>
    <mj-divider border-width="1px" border-color="#dddddd" />
    <mj-text align="center" font-size="12px" color="#777777">{{ store.name }}<br />
      {% if links.preferences_url %}<a href="{{ links.preferences_url }}">Email preferences</a> · {% endif %}{% if links.unsubscribe_url %}<a href="{{ links.unsubscribe_url }}">Unsubscribe</a>{% endif %}</mj-text>
  </mj-column>
</mj-section>`,
  ],
  [
    "product-card",
    `<mj-section padding="8px 0">
  <mj-column width="35%" vertical-align="middle">
    <mj-image src="{{ product.image_url }}" alt="{{ product.name }}" href="{{ product.url }}" width="160px" />
  </mj-column>
  <mj-column width="65%" vertical-align="middle">
    <mj-text font-size="16px" font-weight="bold" padding-bottom="4px">{{ product.name }}</mj-text>
    <mj-text padding-top="0">{% if product.quantity %}{{ product.quantity }} × {% endif %}{{ product.price | money }}{% if product.compare_at_price and product.compare_at_price > product.price %} <s style="color:#999999">{{ product.compare_at_price | money }}</s>{% endif %}{% unless product.in_stock %} · <em>out of stock</em>{% endunless %}</mj-text>
    <mj-button href="{{ product.url }}" align="left">View</mj-button>
  </mj-column>
</mj-section>`,
  ],
]);

const email = (
  subject: string,
  preheader: string,
  body: string,
): TemplateContent => ({
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
});

/** Starter templates: a name, what it is for, and its content. */
export const starterTemplates: ReadonlyMap<
  string,
  { description: string; template: TemplateContent }
> = new Map([
  [
    "welcome",
    {
      description:
        "Welcome email with a unique first-order coupon (pool WELCOME10)",
      template: email(
        "Welcome to {{ store.name | default: 'our store' }}, {{ first_name | default: 'friend' }}",
        "Here is 10% off your first order",
        `    <mj-section>
      <mj-column>
        <mj-text font-size="20px">Hi {{ first_name | default: "there" }}, welcome!</mj-text>
        {% coupon "WELCOME10" as coupon %}
        <mj-text>Your code for 10% off your first order: <strong>{{ coupon.code }}</strong>{% if coupon.expires_at %}, valid until {{ coupon.expires_at | format_date: "long" }}{% endif %}.</mj-text>
        <mj-button href="{{ store.url }}">Start shopping</mj-button>
      </mj-column>
    </mj-section>
    {% products "bestsellers" limit: 3 as items %}
    {% for product in items %}{% include "product-card" %}{% endfor %}`,
      ),
    },
  ],
  [
    "abandoned-cart",
    {
      description:
        "Reminder of the items left in a cart, with what goes with them",
      template: email(
        "{{ first_name | default: 'Hi' }}, you left something in your cart",
        "Your items are waiting for you",
        `    <mj-section>
      <mj-column>
        <mj-text font-size="20px">Still thinking it over?</mj-text>
        <mj-text>We saved your cart.</mj-text>
      </mj-column>
    </mj-section>
    {% products "event" as cart %}
    {% for product in cart %}{% include "product-card" %}{% endfor %}
    <mj-section>
      <mj-column>
        <mj-button href="{{ event.cart_url | default: store.url }}">Return to your cart</mj-button>
      </mj-column>
    </mj-section>
    {% products "bought_together" limit: 2 as extras %}
    {% if extras.size > 0 %}
    <mj-section><mj-column><mj-text font-size="18px">Goes well with</mj-text></mj-column></mj-section>
    {% for product in extras %}{% include "product-card" %}{% endfor %}
    {% endif %}`,
      ),
    },
  ],
  [
    "order-confirmation",
    {
      description: "Order confirmation with its lines and totals",
      template: email(
        "Order {{ event.order_id }} confirmed",
        "Thank you for your order",
        `    <mj-section>
      <mj-column>
        <mj-text font-size="20px">Thank you, {{ first_name | default: "there" }}!</mj-text>
        <mj-text>Order <strong>{{ event.order_id }}</strong> · {{ now | format_date: "long" }}</mj-text>
      </mj-column>
    </mj-section>
    {% products "event" as lines %}
    {% for product in lines %}{% include "product-card" %}{% endfor %}
    <mj-section>
      <mj-column>
        <mj-table>
          {% if event.shipping %}<tr><td>Shipping</td><td align="right">{{ event.shipping | money }}</td></tr>{% endif %}
          {% if event.tax %}<tr><td>Tax</td><td align="right">{{ event.tax | money }}</td></tr>{% endif %}
          <tr><td><strong>Total</strong></td><td align="right"><strong>{{ event.total | default: event.revenue | money }}</strong></td></tr>
        </mj-table>
      </mj-column>
    </mj-section>`,
      ),
    },
  ],
  [
    "shipping-update",
    {
      description: "Your order is on its way, with the tracking link",
      template: email(
        "Order {{ event.order_id }} is on its way",
        "Track your parcel",
        `    <mj-section>
      <mj-column>
        <mj-text font-size="20px">Your order is on its way</mj-text>
        <mj-text>{% if event.carrier %}{{ event.carrier }} tracking number{% else %}Tracking number{% endif %}: <strong>{{ event.tracking_number }}</strong></mj-text>
        {% if event.tracking_url %}<mj-button href="{{ event.tracking_url }}">Track your parcel</mj-button>{% endif %}
      </mj-column>
    </mj-section>`,
      ),
    },
  ],
  [
    "replenishment",
    {
      description: "Time to reorder what the shopper is running out of",
      template: email(
        "Running low, {{ first_name | default: 'friend' }}?",
        "Reorder in one click",
        `    <mj-section>
      <mj-column>
        <mj-text font-size="20px">Time to stock up?</mj-text>
      </mj-column>
    </mj-section>
    {% products "replenishment" limit: 3 as due %}
    {% for product in due %}{% include "product-card" %}{% endfor %}`,
      ),
    },
  ],
  [
    "cart-reminder-sms",
    {
      description: "Short cart reminder by SMS",
      template: {
        channel: "sms",
        content: {
          text: "{{ store.name }}: {{ first_name | default: 'Hi' }}, your cart is waiting: {{ event.cart_url | default: store.url }} Reply STOP to opt out",
        },
      },
    },
  ],
]);
