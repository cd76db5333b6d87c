import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";
import { SettingsCache } from "../workspaces/settings-cache.ts";
import { countBacklog } from "../events/events.sql.ts";
import { TemplateRenderer } from "./content-renderer.ts";

/** A real Order Completed payload (Segment e-commerce spec v2). */
const orderCompleted = {
  checkout_id: "fksdjfsdjfisjf9sdfjsd9f",
  order_id: "50314b8e9bcf000000000000",
  affiliation: "Google Store",
  total: 1234.5,
  revenue: 1200,
  shipping: 19.5,
  tax: 15,
  discount: 0,
  coupon: "hasbros",
  currency: "EUR",
  placed_at: "2026-06-01T23:30:00Z",
  products: [
    {
      product_id: "phone-64",
      sku: "45790-32",
      name: "Phone 64 GB",
      price: 1000,
      quantity: 1,
      category: "phones",
      url: "https://www.example.com/product/path",
      image_url: "https://www.example.com/product/path.jpg",
    },
    {
      product_id: "case-1",
      sku: "46493-32",
      name: "Uno Card Case",
      price: 100,
      quantity: 2,
      category: "cases",
    },
  ],
};

const layout = (body: string) =>
  `<mjml>\n<mj-body>\n{% include "header" %}\n${body}\n{% include "footer" %}\n</mj-body>\n</mjml>`;

describeOnDatabases("templates: saving, rendering, preview", (db) => {
  let herald: Herald;
  let renderer: TemplateRenderer;
  const clock = new ManualClock("2026-06-02T08:00:00Z");
  before(async () => {
    herald = await startTestHerald(db(), { clock });
    renderer = new TemplateRenderer({
      db: db(),
      clock,
      settings: new SettingsCache(db()),
    });
  });
  after(() => herald.close());

  /**
   * settle(), then wait out events that a transaction elsewhere on the server (another
   * database's tests) still hides from the processor, so a render sees their profiles.
   */
  async function settleAll() {
    for (let i = 0; i < 500; i++) {
      await settle(herald);
      if ((await countBacklog(db())) === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function send(ws: NewWorkspace, batch: Record<string, unknown>[]) {
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, batch }),
    });
    assert.equal(response.status, 200, await response.text());
    await settleAll();
  }

  async function profileId(ws: NewWorkspace, userId: string): Promise<string> {
    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles?userId=${userId}`,
    );
    assert.equal(found.body.items.length, 1, JSON.stringify(found.body));
    return found.body.items[0].id as string;
  }

  async function store(ws: NewWorkspace) {
    const settings = await api(
      herald,
      ws.secretKey,
      "PATCH",
      "/api/workspace/settings",
      {
        storeName: "Gadget Shop",
        storeUrl: "https://shop.example",
        currency: "USD",
        locale: "en-US",
        timeZone: "UTC",
      },
    );
    assert.equal(settings.status, 200, JSON.stringify(settings.body));
    const catalog = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/catalog/products",
      {
        products: [
          {
            product_id: "phone-64",
            name: "Phone 64 GB",
            category: "phones",
            brand: "Acme",
            price: 1000,
            stock: 4,
            url: "https://shop.example/p64",
            image_url: "https://shop.example/p64.png",
          },
          {
            product_id: "case-1",
            name: "Uno Card Case",
            category: "cases",
            price: 100,
            stock: 0,
          },
        ],
      },
    );
    assert.equal(catalog.status, 200, JSON.stringify(catalog.body));
  }

  async function createTemplate(
    ws: NewWorkspace,
    body: Record<string, unknown>,
  ) {
    const created = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/templates",
      body,
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.template.id as string;
  }

  it("renders an order email with product blocks, money and dates in two locales and time zones", async () => {
    const ws = await createTestWorkspace(db());
    await store(ws);
    await send(ws, [
      {
        type: "identify",
        userId: "us",
        traits: { email: "sam@example.com", first_name: "Sam" },
        context: { locale: "en-US", timezone: "America/New_York" },
      },
      {
        type: "identify",
        userId: "de",
        traits: { email: "lena@example.de", first_name: "Lena" },
        context: { locale: "de-DE", timezone: "Europe/Berlin" },
      },
    ]);
    const templateId = await createTemplate(ws, {
      name: "Order confirmation",
      channel: "email",
      content: {
        subject:
          "{{ first_name }}, order {{ event.order_id }}: {{ event.total | money }}",
        preheader: "Placed {{ event.placed_at | format_date: 'long' }}",
        mjml: layout(`<mj-section><mj-column>
<mj-text>Hello {{ first_name | default: "there" }}, placed {{ event.placed_at | format_date: "long" }}</mj-text>
<mj-text>Total {{ event.total | money }}</mj-text>
</mj-column></mj-section>
{% products "event" as items %}
{% for product in items %}{% include "product-card" %}{% endfor %}`),
      },
    });

    const render = async (userId: string) =>
      renderer.render({
        workspaceId: ws.id,
        templateId,
        profileId: await profileId(ws, userId),
        messageId: `msg-${userId}`,
        data: orderCompleted,
        links: { unsubscribeUrl: "https://h.example/u/1" },
      });
    const us = await render("us");
    const de = await render("de");
    assert.equal(us.templateVersion, 1);
    assert.equal(us.content.channel, "email");
    assert.equal(de.content.channel, "email");
    if (us.content.channel !== "email" || de.content.channel !== "email")
      return;
    assert.equal(
      us.content.subject,
      "Sam, order 50314b8e9bcf000000000000: €1,234.50",
    );
    assert.equal(
      de.content.subject,
      "Lena, order 50314b8e9bcf000000000000: 1.234,50\u00a0€",
    );
    // 23:30 UTC is still June 1 in New York and already June 2 in Berlin.
    assert.equal(us.content.preheader, "Placed June 1, 2026");
    assert.equal(de.content.preheader, "Placed 2. Juni 2026");
    assert.match(us.content.html, /placed June 1, 2026/);
    assert.match(de.content.html, /placed 2\. Juni 2026/);
    // Product block: cart lines with the catalog's image and stock, prices in the locale.
    assert.match(us.content.html, /Phone 64 GB/);
    assert.match(
      us.content.html,
      /src="https:\/\/www\.example\.com\/product\/path\.jpg"/,
    );
    assert.match(us.content.html, /2 × €100\.00/);
    assert.match(de.content.html, /2 × 100,00\u00a0€/);
    assert.match(us.content.html, /Uno Card Case[\s\S]*out of stock/);
    assert.match(us.content.html, /href="https:\/\/h\.example\/u\/1"/);
    assert.doesNotMatch(us.content.html, /\{\{|\{%/);
    // The text part was made from the HTML at save, links kept.
    assert.match(us.content.text, /Phone 64 GB/);
    assert.match(
      us.content.text,
      /View \[https:\/\/www\.example\.com\/product\/path\]/,
    );
    assert.doesNotMatch(us.content.text, /\{\{|\{%|<td/);
    assert.doesNotMatch(
      us.content.text,
      /Placed June/,
      "the preheader is not in the text part",
    );
  });

  it("escapes output by default, passes | raw on purpose, and writes JSON values in webhooks", async () => {
    const ws = await createTestWorkspace(db());
    await send(ws, [
      {
        type: "identify",
        userId: "x",
        traits: { first_name: '<img src=x onerror="alert(1)">' },
      },
    ]);
    const id = await profileId(ws, "x");
    const email = await createTemplate(ws, {
      name: "Escaping",
      channel: "email",
      content: {
        subject: "Hi {{ first_name }}",
        mjml: "<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ first_name }} / {{ event.note | raw }}</mj-text></mj-column></mj-section></mj-body></mjml>",
      },
    });
    const out = await renderer.render({
      workspaceId: ws.id,
      templateId: email,
      profileId: id,
      messageId: "m1",
      data: { note: "<b>bold</b>" },
      links: {},
    });
    assert.equal(out.content.channel, "email");
    if (out.content.channel !== "email") return;
    assert.match(
      out.content.html,
      /Hi &lt;img src=x onerror=&#34;alert\(1\)&#34;&gt; \/ <b>bold<\/b>/,
    );
    assert.doesNotMatch(out.content.html, /<img src=x/);
    assert.equal(
      out.content.subject,
      'Hi <img src=x onerror="alert(1)">',
      "the subject is text, not HTML",
    );

    const hook = await createTemplate(ws, {
      name: "Hook",
      channel: "webhook",
      content: {
        body: '{"name": {{ first_name }}, "items": {{ event.products | size }}}',
      },
    });
    const rendered = await renderer.render({
      workspaceId: ws.id,
      templateId: hook,
      profileId: id,
      messageId: "m2",
      data: orderCompleted,
      links: {},
    });
    assert.deepEqual(rendered.content, {
      channel: "webhook",
      body: { name: '<img src=x onerror="alert(1)">', items: 2 },
    });
  });

  it("refuses templates that read files or break MJML at save, with line and reason, and stops endless loops", async () => {
    const ws = await createTestWorkspace(db());
    const refused = async (
      content: Record<string, unknown>,
      channel = "email",
    ) => {
      const answer = await api(herald, ws.secretKey, "POST", "/api/templates", {
        name: `t${Math.random()}`,
        channel,
        content,
      });
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      return answer.body.error as {
        message: string;
        details: { path: string; message: string }[];
      };
    };
    const passwd = await refused(
      { text: 'Hi\n{% include "/etc/passwd" %}' },
      "sms",
    );
    assert.match(
      passwd.message,
      /text line 2: there is no partial named "\/etc\/passwd"/,
    );
    const render = await refused(
      { text: "{% render '../../etc/passwd' %}" },
      "sms",
    );
    assert.match(render.message, /no partial named/);
    const mjInclude = await refused({
      subject: "x",
      mjml: '<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>',
    });
    assert.match(mjInclude.message, /mj-include reads files/);

    const split = await refused({
      subject: "Split",
      mjml: [
        "<mjml>",
        "<mj-body>",
        "<mj-section><mj-column>",
        "{% for item in event.products %}",
        "<mj-text>{{ item.name }}</mj-text>",
        "</mj-column></mj-section>",
        "<mj-section><mj-column>",
        "<mj-text>{{ item.price }}</mj-text>",
        "{% endfor %}",
        "</mj-column></mj-section>",
        "</mj-body>",
        "</mjml>",
      ].join("\n"),
    });
    assert.match(
      split.message,
      /mjml line 9: \{% for %\} opens at line 4 inside <mj-column> \(line 3\)/,
    );
    assert.equal(split.details[0]?.path, "/body/content/mjml#L9");

    const badLiquid = await refused({
      subject: "{{ first_name | nosuchfilter }}",
      mjml: "<mjml><mj-body></mj-body></mjml>",
    });
    assert.match(
      badLiquid.message,
      /subject line 1: Liquid: undefined filter: nosuchfilter/,
    );
    const badMjml = await refused({
      subject: "x",
      mjml: "<mjml><mj-body><mj-section><mj-column><mj-unknown>x</mj-unknown></mj-column></mj-section></mj-body></mjml>",
    });
    assert.match(badMjml.message, /MJML: .*mj-unknown/);

    const endless = await createTemplate(ws, {
      name: "Endless",
      channel: "sms",
      content: {
        text: "{% for i in (1..100000000) %}{% for j in (1..100000000) %}x{% endfor %}{% endfor %}",
      },
    });
    const started = performance.now();
    const answer = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/templates/${endless}/preview`,
      {},
    );
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    assert.match(answer.body.error.message, /limit exceeded/);
    assert.ok(performance.now() - started < 10_000);
  });

  it("versions on edit, renders a pinned version, previews with sample data and counts SMS segments", async () => {
    const ws = await createTestWorkspace(db());
    await store(ws);
    const id = await createTemplate(ws, {
      name: "Cart",
      starter: "abandoned-cart",
    });
    const edited = await api(
      herald,
      ws.secretKey,
      "PUT",
      `/api/templates/${id}`,
      {
        content: {
          subject:
            'v2 for {{ first_name }}, {{ "now" | date: "%b %-d" }} ({{ "today" | format_date: "medium" }})',
          mjml: layout(
            "<mj-section><mj-column><mj-text>v2</mj-text></mj-column></mj-section>",
          ),
        },
      },
    );
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(edited.body.version, 2);
    assert.equal(edited.body.textPart, "generated");

    const v1 = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/templates/${id}/preview`,
      { version: 1 },
    );
    assert.equal(v1.status, 200, JSON.stringify(v1.body));
    assert.equal(v1.body.templateVersion, 1);
    assert.equal(
      v1.body.content.subject,
      "Alex, you left something in your cart",
    );
    assert.match(v1.body.content.html, /Everyday sneakers/);
    assert.match(v1.body.content.html, /\$89\.90/);
    const v2 = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/templates/${id}/preview`,
      {},
    );
    assert.equal(v2.body.templateVersion, 2);
    assert.equal(
      v2.body.content.subject,
      "v2 for Alex, Jun 2 (Jun 2, 2026)",
      "'now' and 'today' read Herald's clock, not the machine's",
    );
    const versions = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/templates/${id}/versions`,
    );
    assert.deepEqual(
      versions.body.items.map((v: { version: number }) => v.version),
      [2, 1],
    );

    const sms = await api(herald, ws.secretKey, "POST", "/api/templates", {
      name: "SMS",
      channel: "sms",
      content: {
        text: "{{ first_name }}, your cart is waiting 🛒 {{ store.url }}",
      },
    });
    assert.equal(sms.status, 201, JSON.stringify(sms.body));
    assert.equal(sms.body.sms.encoding, "UCS-2");
    const preview = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/templates/${sms.body.template.id}/preview`,
      {},
    );
    assert.equal(
      preview.body.content.text,
      "Alex, your cart is waiting 🛒 https://shop.example",
    );
    assert.deepEqual(
      {
        encoding: preview.body.sms.encoding,
        segments: preview.body.sms.segments,
      },
      { encoding: "UCS-2", segments: 1 },
    );
  });

  it("test-sends a version to an address through delivery's queue", async () => {
    const ws = await createTestWorkspace(db());
    await send(ws, [
      {
        type: "identify",
        userId: "me",
        traits: { email: "me@example.com", first_name: "Me" },
      },
    ]);
    const id = await createTemplate(ws, {
      name: "Welcome",
      starter: "order-confirmation",
    });
    const sent = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/templates/${id}/test-send`,
      { to: "me@example.com" },
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    assert.equal(sent.body.status, "queued");
    const unknown = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/templates/${id}/test-send`,
      { to: "nobody@example.com" },
    );
    assert.equal(unknown.status, 400);
    assert.match(
      unknown.body.error.message,
      /pass profileId, or send an identify call/,
    );
  });

  it("includes a workspace's own partial over the built-in one, and keeps saved versions as they were", async () => {
    const ws = await createTestWorkspace(db());
    const put = (source: string) =>
      api(herald, ws.secretKey, "PUT", "/api/template-partials/footer", {
        source,
      });
    assert.equal(
      (
        await put(
          "<mj-section><mj-column><mj-text>Footer A</mj-text></mj-column></mj-section>",
        )
      ).status,
      204,
    );
    const id = await createTemplate(ws, {
      name: "With footer",
      channel: "email",
      content: { subject: "x", mjml: layout("") },
    });
    assert.equal(
      (
        await put(
          "<mj-section><mj-column><mj-text>Footer B</mj-text></mj-column></mj-section>",
        )
      ).status,
      204,
    );
    const preview = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/templates/${id}/preview`,
      {},
    );
    assert.match(preview.body.content.html, /Footer A/);
    const bad = await put("{% if x %}");
    assert.equal(bad.status, 400);
    const list = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/template-partials",
    );
    const footer = list.body.items.find(
      (p: { name: string }) => p.name === "footer",
    );
    assert.equal(footer.builtIn, false);
    assert.ok(
      list.body.items.some(
        (p: { name: string; builtIn: boolean }) =>
          p.name === "product-card" && p.builtIn,
      ),
    );
  });
});
