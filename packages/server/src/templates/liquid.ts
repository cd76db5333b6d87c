import {
  Hash,
  Liquid,
  Tag,
  Tokenizer,
  evalToken,
  filters,
  type Context,
  type Emitter,
  type FS,
  type TagToken,
  type TopLevelToken,
  type ValueToken,
} from "liquidjs";
import type { IssuedCoupon } from "@herald/core/coupons/coupons";
import {
  productQuery,
  type ProductItem,
  type ProductQuery,
} from "@herald/core/recommendations/recommendations";

/**
 * liquidjs set up for templates that tenants write. Output is HTML-escaped by default
 * (`| raw` opts out on purpose) in HTML, JSON-encoded in webhook bodies and left alone in
 * plain text; nothing is read from a file system (partials are expanded from the database
 * when a version is saved, and `include`, `render` and `layout` are refused); every
 * render is bounded in time and memory, so a template that loops for ever is stopped;
 * prototypes are hidden and unknown filters are an error at save.
 *
 * Herald's additions: the `money` and `format_date` filters (the shopper's currency,
 * locale and time zone), `date` in the shopper's time zone, the `{% products %}` tag for
 * product blocks and recommendations, and the `{% coupon %}` tag for unique codes.
 */

/** How output values are written. */
export type EscapeMode = "html" | "text" | "json";

/** What a render needs from Herald besides its variables: the shopper's formats, products, coupons. */
export interface RenderServices {
  locale: string;
  timeZone: string;
  currency: string;
  /** The render's clock reading, which `"now"` and `"today"` mean in date filters. */
  now: Date;
  products(query: ProductQuery): Promise<ProductItem[]>;
  coupon(poolId: string): Promise<IssuedCoupon>;
}

/** The scope key that carries a render's services; a symbol, so templates cannot reach it. */
export const servicesKey = Symbol("herald.render-services");

/** Render limits: time per render and allocations per render. */
export const renderLimits = {
  renderMs: 2_000,
  memory: 10_000_000,
  parseChars: 1_000_000,
};

const noFileSystem: FS = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async () => {
    throw new Error("templates cannot read files");
  },
  readFileSync: () => {
    throw new Error("templates cannot read files");
  },
  resolve: (_dir, file) => file,
  contains: async () => false,
  containsSync: () => false,
};

function servicesOf(context: Context): RenderServices {
  const services = (context.environments as Record<symbol, unknown>)[
    servicesKey
  ] as RenderServices | undefined;
  if (!services)
    throw new Error("this render has no Herald services (internal error)");
  return services;
}

const numberFormats = new Map<string, Intl.NumberFormat>();
const dateFormats = new Map<string, Intl.DateTimeFormat>();

/** The amount in the currency and locale: `money` and `money: "EUR"`. */
function formatMoney(locale: string, currency: string, value: unknown): string {
  const amount =
    typeof value === "number"
      ? value
      : typeof value === "string" && value.trim() !== ""
        ? Number(value)
        : Number.NaN;
  if (!Number.isFinite(amount)) return "";
  const key = `${locale}|${currency}`;
  let format = numberFormats.get(key);
  if (!format) {
    try {
      format = new Intl.NumberFormat(locale, { style: "currency", currency });
    } catch {
      format = new Intl.NumberFormat("en-US", {
        style: "currency",
        currency: "USD",
      });
    }
    if (numberFormats.size > 1_000) numberFormats.clear();
    numberFormats.set(key, format);
  }
  return format.format(amount);
}

const dateStyles = new Set(["full", "long", "medium", "short"]);

/** The words that mean the render's clock in date filters, as in Shopify's Liquid. */
const isNowWord = (value: unknown) => value === "now" || value === "today";

function toDate(value: unknown, now: Date): Date | undefined {
  if (value instanceof Date) return value;
  if (isNowWord(value)) return now;
  if (typeof value === "number")
    return new Date(value < 1e12 ? value * 1000 : value);
  if (typeof value === "string" && value.trim() !== "") {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  return undefined;
}

/** A date in the locale and time zone: `format_date`, `format_date: "long"`, `format_date: "long", "short"`. */
function formatDate(
  services: RenderServices,
  value: unknown,
  dateStyle: unknown,
  timeStyle: unknown,
): string {
  const date = toDate(value, services.now);
  if (!date) return "";
  const options: Intl.DateTimeFormatOptions = {
    timeZone: services.timeZone,
    dateStyle: (typeof dateStyle === "string" && dateStyles.has(dateStyle)
      ? dateStyle
      : "medium") as Intl.DateTimeFormatOptions["dateStyle"],
  };
  if (typeof timeStyle === "string" && dateStyles.has(timeStyle))
    options.timeStyle = timeStyle as Intl.DateTimeFormatOptions["timeStyle"];
  const key = `${services.locale}|${options.timeZone}|${options.dateStyle}|${options.timeStyle ?? ""}`;
  let format = dateFormats.get(key);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat(services.locale, options);
    } catch {
      format = new Intl.DateTimeFormat("en-US", {
        ...options,
        timeZone: "UTC",
      });
    }
    if (dateFormats.size > 1_000) dateFormats.clear();
    dateFormats.set(key, format);
  }
  return format.format(date);
}

/** Splits `… as name` off a tag's arguments. */
function splitTarget(args: string): { args: string; target?: string } {
  const match = /\s+as\s+([A-Za-z_][\w-]*)\s*$/.exec(args);
  return match?.[1]
    ? { args: args.slice(0, match.index), target: match[1] }
    : { args };
}

/**
 * `{% products "bought_together" limit: 4 for: event.products as items %}`: puts a list
 * of products in `items` (or, without `as`, in `products`).
 */
class ProductsTag extends Tag {
  readonly #source: ValueToken | undefined;
  readonly #hash: Hash;
  readonly #target: string;

  constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid) {
    super(token, remain, liquid);
    const { args, target } = splitTarget(token.args);
    const tokenizer = new Tokenizer(args, liquid.options.operators);
    this.#source = tokenizer.readValue();
    if (!this.#source)
      throw new Error(
        '{% products %} needs a source, like {% products "bestsellers" limit: 4 as items %}',
      );
    this.#hash = new Hash(tokenizer.remaining());
    this.#target = target ?? "products";
  }

  *render(ctx: Context): Generator<unknown, void, unknown> {
    const source: unknown = yield evalToken(this.#source, ctx);
    const options = (yield this.#hash.render(ctx)) as Record<string, unknown>;
    const query = productQuery(source, options);
    const items = (yield servicesOf(ctx).products(query)) as ProductItem[];
    ctx.memoryLimit.use(items.length);
    ctx.bottom()[this.#target] = items;
  }
}

/**
 * `{% coupon "WELCOME10" %}` writes this recipient's code from the pool;
 * `{% coupon "WELCOME10" as coupon %}` puts the code with its expiry and value in `coupon`.
 */
class CouponTag extends Tag {
  readonly #pool: ValueToken | undefined;
  readonly #target: string | undefined;

  constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid) {
    super(token, remain, liquid);
    const { args, target } = splitTarget(token.args);
    this.#pool = new Tokenizer(args, liquid.options.operators).readValue();
    if (!this.#pool)
      throw new Error(
        '{% coupon %} needs a pool, like {% coupon "WELCOME10" %}',
      );
    this.#target = target;
  }

  *render(ctx: Context, emitter: Emitter): Generator<unknown, void, unknown> {
    const pool: unknown = yield evalToken(this.#pool, ctx);
    if (typeof pool !== "string" || pool === "")
      throw new Error("{% coupon %} needs the id of a coupon pool");
    const coupon = (yield servicesOf(ctx).coupon(pool)) as IssuedCoupon;
    if (this.#target) {
      ctx.bottom()[this.#target] = {
        code: coupon.code,
        pool: coupon.poolId,
        expires_at: coupon.expiresAt?.toISOString() ?? null,
        value: coupon.value,
        conditions: coupon.conditions,
      };
      return;
    }
    emitter.write(coupon.code);
  }
}

/** Tags that would read other templates at render time: partials are expanded at save. */
class RefusedTag extends Tag {
  constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid) {
    super(token, remain, liquid);
    throw new Error(
      `{% ${token.name} %} is not available: partials are included with {% include "name" %} and expanded when the template is saved`,
    );
  }

  render(): void {}
}

/** What liquidjs binds `this` to in a filter (its FilterImpl type is not exported). */
type FilterThis = { context: Context };

// liquidjs's strftime `date` filter; its registry entry is typed loosely as FilterImplOptions.
const strftimeDate = filters.date as unknown as (
  this: FilterThis,
  value: unknown,
  format?: string,
  zone?: string,
) => unknown;

function heraldFilters(liquid: Liquid): void {
  liquid.registerFilter("money", function (this: FilterThis, value, currency) {
    const services = servicesOf(this.context);
    return formatMoney(
      services.locale,
      typeof currency === "string" && currency !== ""
        ? currency.toUpperCase()
        : services.currency,
      value,
    );
  });
  liquid.registerFilter(
    "format_date",
    function (this: FilterThis, value, dateStyle, timeStyle) {
      return formatDate(servicesOf(this.context), value, dateStyle, timeStyle);
    },
  );
  // Liquid's strftime `date`, in the shopper's time zone unless one is given.
  liquid.registerFilter(
    "date",
    function (
      this: FilterThis,
      value: string | Date,
      format?: string,
      zone?: string,
    ) {
      const services = servicesOf(this.context);
      const timeZone = zone ?? services.timeZone;
      const date = isNowWord(value) ? services.now : value;
      return strftimeDate.call(this, date, format, timeZone);
    },
  );
}

/** A liquidjs instance configured for tenant templates, writing output as `mode` says. */
export function createLiquid(mode: EscapeMode): Liquid {
  const liquid = new Liquid({
    outputEscape:
      mode === "html" ? "escape" : mode === "json" ? "json" : undefined,
    ownPropertyOnly: true,
    strictFilters: true,
    fs: noFileSystem,
    templates: {},
    relativeReference: false,
    dynamicPartials: false,
    parseLimit: renderLimits.parseChars,
    renderLimit: renderLimits.renderMs,
    memoryLimit: renderLimits.memory,
    cache: false,
  });
  heraldFilters(liquid);
  liquid.registerTag("products", ProductsTag);
  liquid.registerTag("coupon", CouponTag);
  for (const name of ["include", "render", "layout"])
    liquid.registerTag(name, RefusedTag);
  return liquid;
}

/** One instance per mode, shared: the instances hold no per-render state. */
export const engines: Record<EscapeMode, Liquid> = {
  html: createLiquid("html"),
  text: createLiquid("text"),
  json: createLiquid("json"),
};
