import type { Database } from "../../packages/server/src/db/database.ts";

/**
 * A generated store for benchmarks: one workspace with `profiles` shoppers and `events`
 * events over the last `days` days, written straight into PostgreSQL with set-based SQL
 * (generate_series, deterministic hashes), in chunks with a progress line. Orders, order
 * lines, identities and the profiles' computed attributes are derived from the events,
 * so the data is what the event processor would have built; the event log's cursors are
 * moved past the generated events so that a processor started on it only sees new ones.
 *
 * What a shopper does (per event): 45% Product Viewed (one of 12 categories, 5,000
 * products), 15% page views, 10% Product Added, 5% Checkout Started, 3% Order Completed
 * (a quarter with a coupon), 12% Email Delivered, 6% Email Opened, 2% Email Link Clicked,
 * 2% identify. Times are uniform over the window; shoppers are picked uniformly.
 * Profile `n` has user id `u<n>`, email `user<n>@example.test`, and a UUIDv7 id whose time
 * is its creation, so that ids follow the order rows were written in, as in Herald.
 */

/** The size and the clock of a generated store. */
export interface StoreShape {
  workspaceId: string;
  profiles: number;
  events: number;
  /** How far back events go. */
  days: number;
  /** The generated store's "now": every event is before it. */
  now: Date;
}

/** Categories of the generated catalog. */
export const categories = [
  "shoes",
  "boots",
  "sandals",
  "jackets",
  "shirts",
  "trousers",
  "dresses",
  "hats",
  "bags",
  "socks",
  "watches",
  "belts",
];

const countries = ["DE", "FR", "GB", "US", "NL", "ES", "IT", "PL", "SE", "AT"];
const plans = ["free", "basic", "pro"];

/**
 * The SQL function that gives profile `n` its id: a UUIDv7 whose time is the profile's
 * creation (profiles are created one after another over the window, so ids follow the
 * order rows are written in, as Herald's own UUIDv7 ids do) and whose rest is a hash.
 */
const profileIdFunction = `
  create or replace function bench_profile_id(workspace text, n bigint, first_ms bigint, step_ms bigint)
  returns uuid language sql immutable as $$
    select (lpad(to_hex(first_ms + n * step_ms), 12, '0') || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid
      from (select md5(workspace || ':' || n) as h) as x
  $$`;

/** Progress of one phase. */
export type GenerateProgress = (
  phase: string,
  done: number,
  total: number,
) => void;

/** A progress line on stderr: `[generate] events 3,500,000 / 10,000,000 (35%) 42s`. */
export function progressLine(started = Date.now()): GenerateProgress {
  return (phase, done, total) => {
    const share = total > 0 ? Math.round((done / total) * 100) : 100;
    const seconds = Math.round((Date.now() - started) / 1000);
    process.stderr.write(
      `\r[generate] ${phase.padEnd(12)} ${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} (${share}%) ${seconds}s   ` +
        (done >= total ? "\n" : ""),
    );
  };
}

/** True when the workspace holds a store of this shape, and nothing more, already (to reuse it). */
export async function storeExists(
  db: Database,
  shape: StoreShape,
): Promise<boolean> {
  const [row] = await db.query<{ profiles: number; events: number }>(
    `select (select count(*) from profiles where workspace_id = $1) as profiles,
            (select count(*) from events where workspace_id = $1 and message_id like 'gen-%') as events`,
    [shape.workspaceId],
  );
  return row?.profiles === shape.profiles && row.events === shape.events;
}

/** Generates the store (see the module comment) into a migrated, empty database. */
export async function generateStore(
  db: Database,
  shape: StoreShape,
  progress: GenerateProgress = progressLine(),
): Promise<void> {
  const { workspaceId, now } = shape;
  const span = shape.days * 86_400_000;
  // Profiles were created over a window a little longer than the events'.
  const createdSpan = Math.round(span * 1.1);
  const step = Math.max(1, Math.floor(createdSpan / shape.profiles));
  const firstMs = now.getTime() - step * (shape.profiles + 1);
  /** SQL of profile `n`'s id, with the first and step parameters at `$first`, `$first + 1`. */
  const profileId = (n: string, first: number) =>
    `bench_profile_id($1, ${n}, $${first}::bigint, $${first + 1}::bigint)`;
  await db.query(profileIdFunction);
  await db.query(
    "insert into workspaces (id, name, settings, created_at) values ($1, $2, '{}', $3) on conflict do nothing",
    [workspaceId, "Generated store", now],
  );

  const eventChunk = 250_000;
  for (let lo = 1; lo <= shape.events; lo += eventChunk) {
    const hi = Math.min(shape.events, lo + eventChunk - 1);
    await db.query(
      `insert into events (workspace_id, message_id, partition, profile_id, type, name, user_id, properties,
                           context, timestamp, received_at, source, silent)
       select $1, 'gen-' || g, ('x' || right(pid::text, 1))::bit(4)::integer, pid,
              case when kind >= 98 then 'identify' when kind between 45 and 59 then 'page' else 'track' end,
              case when kind < 45 then 'Product Viewed'
                   when kind < 60 then (array['Home', 'Category', 'Search', 'About'])[1 + h3 % 4]
                   when kind < 70 then 'Product Added'
                   when kind < 75 then 'Checkout Started'
                   when kind < 78 then 'Order Completed'
                   when kind < 90 then 'Email Delivered'
                   when kind < 96 then 'Email Opened'
                   when kind < 98 then 'Email Link Clicked'
              end,
              'u' || n,
              case when kind < 45 or kind between 60 and 69 then
                     jsonb_build_object('product_id', 'p' || (h3 % 5000), 'category', ($7::text[])[1 + (h3 % 5000) % $8],
                                        'price', 10 + h3 % 190)
                   when kind between 70 and 74 then jsonb_build_object('total', 20 + h3 % 400)
                   when kind between 75 and 77 then
                     jsonb_build_object('order_id', 'o' || g, 'revenue', 20 + h3 % 400,
                                        'coupon', case when h3 % 4 = 0 then 'SAVE10' end,
                                        'products', jsonb_build_array(jsonb_build_object(
                                          'product_id', 'p' || (h3 % 5000), 'category', ($7::text[])[1 + (h3 % 5000) % $8],
                                          'brand', 'brand' || (h3 % 40), 'price', 20 + h3 % 400)))
                   when kind between 78 and 97 then jsonb_build_object('campaign_id', 'c' || (h3 % 30))
                   else '{}'::jsonb
              end,
              '{}', ts, ts, 'import', true
         from generate_series($3::bigint, $4::bigint) as g,
              lateral (select 1 + abs(hashint8extended(g, 1)) % $5 as n,
                              abs(hashint8extended(g, 2)) % 100 as kind,
                              abs(hashint8extended(g, 3)) as h3) as r,
              lateral (select ${profileId("r.n", 9)} as pid,
                              $2::timestamptz - (abs(hashint8extended(g, 4)) % $6) * interval '1 millisecond' as ts) as p`,
      [
        workspaceId,
        now,
        lo,
        hi,
        shape.profiles,
        span,
        categories,
        categories.length,
        firstMs,
        step,
      ],
    );
    progress("events", hi, shape.events);
  }

  progress("orders", 0, 2);
  await db.query(
    `insert into orders (workspace_id, order_id, profile_id, currency, total, revenue, coupon, placed_at, updated_at, message_id)
     select workspace_id, properties ->> 'order_id', profile_id, 'EUR', (properties ->> 'revenue')::numeric,
            (properties ->> 'revenue')::numeric, properties ->> 'coupon', timestamp, timestamp, message_id
       from events where workspace_id = $1 and name = 'Order Completed'`,
    [workspaceId],
  );
  progress("orders", 1, 2);
  await db.query(
    `insert into order_items (workspace_id, order_id, line, profile_id, product_id, name, category, brand, price, quantity, placed_at)
     select e.workspace_id, e.properties ->> 'order_id', 0, e.profile_id, item ->> 'product_id', item ->> 'product_id',
            item ->> 'category', item ->> 'brand', (item ->> 'price')::numeric, 1, e.timestamp
       from events e, lateral (select e.properties -> 'products' -> 0 as item) as i
      where e.workspace_id = $1 and e.name = 'Order Completed'`,
    [workspaceId],
  );
  progress("orders", 2, 2);

  // What each profile's computed attributes come from, gathered once.
  progress("aggregates", 0, 1);
  await db.query("drop table if exists bench_seen, bench_bought");
  await db.query(
    `create unlogged table bench_seen as
       select profile_id, min(timestamp) as first, max(timestamp) as last
         from events where workspace_id = $1 group by profile_id`,
    [workspaceId],
  );
  await db.query(
    `create unlogged table bench_bought as
       select profile_id, count(*) as n, sum(revenue) as revenue, min(placed_at) as first, max(placed_at) as last
         from orders where workspace_id = $1 and status = 'placed' group by profile_id`,
    [workspaceId],
  );
  progress("aggregates", 1, 1);

  const profileChunk = 100_000;
  for (let lo = 1; lo <= shape.profiles; lo += profileChunk) {
    const hi = Math.min(shape.profiles, lo + profileChunk - 1);
    await db.query(
      `insert into profiles (workspace_id, id, created_at, updated_at, email, traits, country, city, time_zone, locale,
                             first_seen_at, last_seen_at, order_count, revenue, first_order_at, last_order_at,
                             avg_days_between_orders, expected_next_order_at)
       select $1, i.id, to_timestamp(($8::bigint + g * $9::bigint) / 1000.0), $2,
              'user' || g || '@example.test',
              jsonb_build_object(
                'plan', ($5::text[])[1 + h % 3],
                'first_name', 'Name' || (h % 997),
                'birthday', to_char(date '1950-01-01' + (h % 20000)::integer, 'YYYY-MM-DD'),
                'vip', h % 50 = 0,
                'age', 18 + h % 60),
              ($6::text[])[1 + (h / 7) % $7], 'City ' || (h % 200), 'Europe/Berlin', 'en',
              s.first, s.last, coalesce(b.n, 0), coalesce(b.revenue, 0), b.first, b.last,
              case when b.n > 1 then round((extract(epoch from b.last - b.first) / 86400 / (b.n - 1))::numeric, 1) end,
              case when b.n > 1 then b.last + (b.last - b.first) / (b.n - 1) end
         from generate_series($3::integer, $4::integer) as g
         cross join lateral (select ${profileId("g", 8)} as id, abs(hashint8extended(g, 11)) as h) as i
         left join bench_seen s on s.profile_id = i.id
         left join bench_bought b on b.profile_id = i.id
        order by g`,
      [
        workspaceId,
        now,
        lo,
        hi,
        plans,
        countries,
        countries.length,
        firstMs,
        step,
      ],
    );
    progress("profiles", hi, shape.profiles);
  }
  await db.query("drop table bench_seen, bench_bought");

  progress("identities", 0, 1);
  await db.query(
    `insert into identities (workspace_id, type, value, profile_id, created_at, last_seen_at)
     select $1, t.type, case when t.type = 'user_id' then 'u' || g else 'user' || g || '@example.test' end,
            ${profileId("g", 4)}, $3, $3
       from generate_series(1, $2::integer) as g, (values ('user_id'), ('email')) as t(type)`,
    [workspaceId, shape.profiles, now, firstMs, step],
  );
  progress("identities", 1, 1);

  // The processor starts after the generated events: they are history, already applied.
  await db.tx(async (tx) => {
    await tx.query(
      "update event_cursors set xid = pg_current_xact_id(), seq = 0",
    );
  });
  // As autovacuum would have by then: statistics, and the visibility map that lets
  // index-only scans skip the table.
  const tables = ["profiles", "events", "orders", "order_items", "identities"];
  for (const [i, table] of tables.entries()) {
    progress("vacuum", i, tables.length);
    await db.query(`vacuum analyze ${table}`);
  }
  progress("vacuum", tables.length, tables.length);
}
