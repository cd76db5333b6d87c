/**
 * bench/render: personalised emails rendered per second by Herald's pipeline, beside bare
 * liquidjs rendering the same compiled template in the same run, as a ratio (target ≥ 0.7).
 *
 *   node --import tsx bench/render/render.ts          (npm run bench:render)
 *
 * Environment: BENCH_SECONDS (per measurement, default 5).
 *
 * The template is an abandoned-cart email (header, footer, a product card per cart line,
 * money, dates, fallbacks), saved once through Herald's compiler (MJML → HTML with the
 * Liquid inside, plain text derived). Herald's side renders the whole message per
 * recipient — subject, preheader, HTML (escaped output, time and memory limits, the
 * shopper's locale, currency and time zone) and the text part — from a fresh scope built
 * from a profile and a cart. The baseline is `new Liquid()` with no options rendering the
 * compiled HTML alone, with plain filters standing in for Herald's. Both use the same
 * carts; no database is involved (profile loading is the delivery worker's cost, not the
 * renderer's). The MJML compile time is printed for comparison. Last, the whole email as
 * the sender gets it: through the template threads (templates/template-threads.ts, 25
 * renders in flight as the sender keeps them), which is what delivery runs.
 */
import { Liquid } from "liquidjs";
import type { ProductItem } from "../../packages/core/src/recommendations/recommendations.ts";
import { emptyProfile } from "../../packages/core/src/profiles/profile.ts";
import { compileContent } from "../../packages/server/src/templates/compile.ts";
import {
  engines,
  type RenderServices,
} from "../../packages/server/src/templates/liquid.ts";
import {
  formatsOf,
  parseCompiled,
  renderContent,
  renderScope,
} from "../../packages/server/src/templates/render.ts";
import {
  builtInPartials,
  starterTemplates,
} from "../../packages/server/src/templates/starter-kit.ts";
import { templateThreads } from "../../packages/server/src/templates/template-threads.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);

const starter = starterTemplates.get("abandoned-cart")?.template;
if (!starter || starter.channel !== "email") throw new Error("no starter");
// The cart block only: recommendations need the database and are measured elsewhere.
const template = {
  ...starter,
  content: {
    ...starter.content,
    mjml: starter.content.mjml.replace(
      /\{% products "bought_together"[\s\S]*?\{% endif %\}/,
      "",
    ),
  },
};

const compileStart = performance.now();
const compiled = await compileContent(template, builtInPartials);
const compileMs = performance.now() - compileStart;
if (compiled.channel !== "email") throw new Error("not an email");
const parsed = parseCompiled(compiled);

const locales = [
  ["en-US", "America/New_York", "USD"],
  ["de-DE", "Europe/Berlin", "EUR"],
  ["fr-FR", "Europe/Paris", "EUR"],
  ["en-GB", "Europe/London", "GBP"],
] as const;
const names = ["Sam", "Lena", "Jules", "Ana", "Noor", "Kai", "Mia", "Tom"];

/** One recipient: a profile and a cart of 1–4 lines. */
function recipient(i: number) {
  const [locale, zone, currency] = locales[i % locales.length] ?? locales[0];
  const profile = {
    ...emptyProfile("ws", `p-${i}`, new Date("2026-01-01T00:00:00Z")),
    email: `shopper${i}@example.com`,
    traits: { first_name: names[i % names.length] ?? "Sam" },
    locale,
    timeZone: zone,
  };
  const items: ProductItem[] = Array.from({ length: 1 + (i % 4) }, (_, n) => ({
    product_id: `p-${(i * 7 + n) % 200}`,
    name: `Product ${(i * 7 + n) % 200} <deluxe>`,
    price: 10 + ((i * 13 + n * 7) % 90) + 0.99,
    compare_at_price: n === 0 ? 149 : null,
    currency,
    url: `https://shop.example/products/${(i * 7 + n) % 200}`,
    image_url: `https://cdn.example/p/${(i * 7 + n) % 200}.jpg`,
    category: "shoes",
    brand: "Acme",
    stock: n === 3 ? 0 : 5,
    in_stock: n !== 3,
    quantity: 1 + (n % 2),
  }));
  const data = {
    cart_id: `cart-${i}`,
    currency,
    cart_url: `https://shop.example/cart/${i}`,
    products: items,
  };
  return { profile, items, data };
}

const recipients = Array.from({ length: 256 }, (_, i) => recipient(i));
const settings = {
  storeName: "Gadget Shop",
  storeUrl: "https://shop.example",
  currency: "USD",
};
const now = new Date("2026-06-01T12:00:00Z");

function heraldScope(i: number) {
  const r = recipients[i % recipients.length] ?? recipients[0];
  if (!r) throw new Error("no recipient");
  const services: RenderServices = {
    ...formatsOf({ profile: r.profile, data: r.data, settings }),
    now,
    products: async () => r.items,
    coupon: async () => {
      throw new Error("no coupons in this bench");
    },
  };
  return renderScope(
    {
      profile: r.profile,
      data: r.data,
      settings,
      links: { unsubscribeUrl: `https://h.example/u/${i}` },
      messageId: `m-${i}`,
      now,
    },
    services,
  );
}

async function herald(i: number): Promise<number> {
  const message = await renderContent(parsed, heraldScope(i));
  if (message.channel !== "email") throw new Error("not an email");
  return message.html.length + message.text.length;
}

const htmlPart = parsed.fields.get("html");
if (!htmlPart) throw new Error("no html part");
const htmlTemplates = htmlPart.templates;
async function heraldHtml(i: number): Promise<number> {
  const html = (await engines.html.render(
    htmlTemplates,
    heraldScope(i),
  )) as string;
  return html.length;
}

const bare = new Liquid();
bare.registerFilter("money", (value: number) => `$${Number(value).toFixed(2)}`);
bare.registerFilter("format_date", (value: string) => String(value));
bare.registerTag("products", {
  parse(token) {
    this.target = /as\s+(\w+)/.exec(token.args)?.[1] ?? "products";
  },
  render(ctx) {
    ctx.bottom()[this.target as string] = ctx.getSync(["event", "products"]);
  },
});
const bareTemplate = bare.parse(compiled.html);

async function baseline(i: number): Promise<number> {
  const r = recipients[i % recipients.length] ?? recipients[0];
  if (!r) throw new Error("no recipient");
  const html = (await bare.render(bareTemplate, {
    ...r.profile.traits,
    event: r.data,
    store: { name: settings.storeName, url: settings.storeUrl },
    links: { unsubscribe_url: `https://h.example/u/${i}` },
    now: now.toISOString(),
  })) as string;
  return html.length;
}

async function measure(run: (i: number) => Promise<number>): Promise<number> {
  for (let i = 0; i < 500; i++) await run(i); // warm-up
  const until = performance.now() + seconds * 1000;
  let count = 0;
  let bytes = 0;
  const start = performance.now();
  while (performance.now() < until) {
    for (let k = 0; k < 50; k++) bytes += await run(count++);
  }
  if (bytes === 0) throw new Error("rendered nothing");
  return count / ((performance.now() - start) / 1000);
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(
  `template: abandoned-cart, ${compiled.html.length.toLocaleString("en-US")} bytes of compiled HTML; ` +
    `MJML compile once at save: ${compileMs.toFixed(1)} ms`,
);
// Alternate the two, twice, so that drift on a shared machine hits both alike.
const bareRates: number[] = [];
const htmlRates: number[] = [];
const heraldRates: number[] = [];
for (let round = 0; round < 2; round++) {
  bareRates.push(await measure(baseline));
  htmlRates.push(await measure(heraldHtml));
  heraldRates.push(await measure(herald));
}
const bareRate = Math.max(...bareRates);
const htmlRate = Math.max(...htmlRates);
const heraldRate = Math.max(...heraldRates);
console.log(
  `bare liquidjs, compiled HTML:                    ${fmt(bareRate)} renders/s`,
);
console.log(
  `Herald, the same compiled HTML, personalised:    ${fmt(htmlRate)} renders/s  ` +
    `ratio ${(htmlRate / bareRate).toFixed(2)} (target ≥ 0.7)`,
);
console.log(
  `Herald, whole email (HTML + text part + subject + preheader): ${fmt(heraldRate)} emails/s  ` +
    `ratio ${(heraldRate / bareRate).toFixed(2)} (${(1000 / heraldRate).toFixed(3)} ms each; ` +
    `the text part is a second Liquid render of the same size)`,
);

// Through the template threads, as delivery renders: the scope's input crosses to a thread.
function threadJob(i: number) {
  const r = recipients[i % recipients.length] ?? recipients[0];
  if (!r) throw new Error("no recipient");
  return templateThreads.render(
    {
      key: "bench/abandoned-cart/1",
      compiled,
      scope: {
        profile: r.profile,
        data: r.data,
        settings,
        links: { unsubscribeUrl: `https://h.example/u/${i}` },
        messageId: `m-${i}`,
        now,
      },
    },
    {
      products: async () => r.items,
      coupon: async () => {
        throw new Error("no coupons in this bench");
      },
    },
  );
}
const inFlight = 25;
async function threadRate(): Promise<number> {
  let next = 0;
  let bytes = 0;
  let until = 0;
  const lane = async () => {
    while (performance.now() < until) {
      const { content } = await threadJob(next++);
      if (content.channel === "email") bytes += content.html.length;
    }
  };
  for (let i = 0; i < 500; i++) await threadJob(i); // warm-up (starts the threads)
  await Promise.all(Array.from({ length: inFlight }, () => threadJob(0)));
  next = 0;
  const start = performance.now();
  until = start + seconds * 1000;
  await Promise.all(Array.from({ length: inFlight }, lane));
  if (bytes === 0) throw new Error("rendered nothing");
  return next / ((performance.now() - start) / 1000);
}
const threadedRate = await threadRate();
console.log(
  `Herald, whole email through ${templateThreads.options.size} template thread(s) (${inFlight} in flight): ${fmt(threadedRate)} emails/s  ` +
    `ratio ${(threadedRate / bareRate).toFixed(2)}`,
);
await templateThreads.close();
