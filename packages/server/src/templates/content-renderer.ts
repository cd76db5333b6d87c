import type { Clock } from "@herald/core/clock";
import type { IssuedCoupon } from "@herald/core/coupons/coupons";
import { DomainError } from "@herald/core/domain-error";
import { normalizeIdentifier } from "@herald/core/identity/identifiers";
import type {
  ContentRenderer,
  MessageChannel,
  RenderedMessage,
  RenderRequest,
} from "@herald/core/messages/content";
import { emptyProfile, type Profile } from "@herald/core/profiles/profile";
import type { CompiledContent } from "@herald/core/templates/template";
import type { WorkspaceSettings } from "@herald/core/workspaces/settings";
import { issueCoupon } from "../coupons/issue-coupon.ts";
import type { Database, Queryable } from "../db/database.ts";
import { findProfileIdsBy } from "../profiles/identities.sql.ts";
import { getPool } from "../coupons/coupons.sql.ts";
import { getProfileRow, toProfile } from "../profiles/profiles.sql.ts";
import { currentVersion, getVersion } from "./templates.sql.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import { productResolver } from "./products.ts";
import {
  templateThreads,
  type RenderedContent,
  type TemplateThreads,
} from "./template-threads.ts";

/**
 * Herald's ContentRenderer: delivery asks it for one recipient's message. It loads the
 * template version (pinned, or the current one), keeps recent versions in memory
 * (versions never change, so the cache needs no invalidation), loads the profile and the
 * workspace settings, and renders in a template thread (template-threads.ts, which keeps
 * the versions parsed) with product blocks answered from the catalog and coupons issued
 * in their own short transaction, keyed by the message id.
 *
 * Preview renders the same way with sample data where none is given, and never issues a
 * coupon: it shows a sample code instead.
 */

const cacheSize = 500;

/** A version ready to render, its number and its key in the template threads. */
interface LoadedVersion {
  version: number;
  key: string;
  compiled: CompiledContent;
}

/** What a preview may set besides the template. */
export interface PreviewRequest {
  workspaceId: string;
  templateId: string;
  version?: number;
  profileId?: string;
  data?: Record<string, unknown>;
}

/** A sample cart for previews without data (Segment e-commerce spec properties). */
export const sampleEventData: Record<string, unknown> = {
  order_id: "1001",
  cart_id: "sample-cart",
  currency: undefined,
  total: 134.9,
  revenue: 119.9,
  shipping: 5,
  tax: 10,
  tracking_number: "1Z999AA10123456784",
  products: [
    {
      product_id: "sample-1",
      name: "Everyday sneakers",
      price: 89.9,
      quantity: 1,
      url: "https://example.com/products/sneakers",
      image_url: "https://placehold.co/300x300/png",
    },
    {
      product_id: "sample-2",
      name: "Cotton socks (3 pairs)",
      price: 15,
      quantity: 2,
      url: "https://example.com/products/socks",
      image_url: "https://placehold.co/300x300/png",
    },
  ],
};

/**
 * The profile a test send renders for when none is named: the one with the address (an
 * email for email, a phone for SMS); invalid when there is none, saying what to do.
 */
export async function profileWithAddress(
  q: Queryable,
  workspaceId: string,
  channel: MessageChannel,
  to: string,
): Promise<string> {
  const type = channel === "sms" ? "phone" : "email";
  const value = normalizeIdentifier(type, to);
  const [id] = value
    ? await findProfileIdsBy(q, workspaceId, { type, value })
    : [];
  if (!id)
    throw new DomainError(
      "invalid",
      `no profile has the ${type} ${to}: pass profileId, or send an identify call with this ${type} first`,
      [{ path: "/body/profileId", message: "required for this address" }],
    );
  return id;
}

/** The settings a render reads; the rest (secrets among them) stay on this thread. */
function renderSettings(all: WorkspaceSettings): WorkspaceSettings {
  const settings: WorkspaceSettings = {};
  for (const key of [
    "storeName",
    "storeUrl",
    "currency",
    "locale",
    "timeZone",
  ] as const)
    if (all[key] !== undefined) settings[key] = all[key];
  return settings;
}

/** See the module comment. */
export class TemplateRenderer implements ContentRenderer {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #settings: SettingsCache;
  readonly #threads: TemplateThreads;
  readonly #versions = new Map<string, LoadedVersion>();

  constructor(deps: {
    db: Database;
    clock: Clock;
    settings: SettingsCache;
    /** The process's template threads unless given. */
    threads?: TemplateThreads;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#settings = deps.settings;
    this.#threads = deps.threads ?? templateThreads;
  }

  async render(
    request: RenderRequest,
  ): Promise<{ templateVersion: number; content: RenderedMessage }> {
    const loaded = await this.#load(
      request.workspaceId,
      request.templateId,
      request.version,
    );
    const profile = await this.#profile(request.workspaceId, request.profileId);
    const now = this.#clock.now();
    const coupons = new Map<string, Promise<IssuedCoupon>>();
    const coupon = (poolId: string) => {
      let issued = coupons.get(poolId);
      if (!issued) {
        issued = this.#db.tx((tx) =>
          issueCoupon(tx, request.workspaceId, {
            poolId,
            profileId: profile.id,
            key: request.messageId,
            now,
          }),
        );
        coupons.set(poolId, issued);
      }
      return issued;
    };
    const { content } = await this.#render(loaded, {
      workspaceId: request.workspaceId,
      profile,
      data: request.data,
      links: request.links,
      messageId: request.messageId,
      now,
      coupon,
    });
    return { templateVersion: loaded.version, content };
  }

  /** Renders a version for a profile or sample data, issuing no coupon; warnings name links taken out. */
  async preview(
    request: PreviewRequest,
  ): Promise<{ templateVersion: number } & RenderedContent> {
    const loaded = await this.#load(
      request.workspaceId,
      request.templateId,
      request.version,
    );
    const now = this.#clock.now();
    const settings = await this.#settings.get(request.workspaceId);
    const profile = request.profileId
      ? await this.#profile(request.workspaceId, request.profileId)
      : {
          ...emptyProfile(
            request.workspaceId,
            "00000000-0000-7000-8000-000000000000",
            now,
          ),
          email: "alex@example.com",
          traits: { first_name: "Alex", last_name: "Sample" },
          locale: settings.locale ?? null,
          timeZone: settings.timeZone ?? null,
        };
    const data = request.data ?? {
      ...sampleEventData,
      currency: settings.currency ?? "USD",
    };
    const rendered = await this.#render(loaded, {
      workspaceId: request.workspaceId,
      profile,
      data,
      links: {
        unsubscribeUrl: "https://example.com/unsubscribe",
        preferencesUrl: "https://example.com/preferences",
        viewInBrowserUrl: "https://example.com/view",
      },
      messageId: "preview",
      now,
      coupon: async (poolId) => {
        const pool = await getPool(this.#db, request.workspaceId, poolId);
        if (!pool)
          throw new DomainError(
            "not_found",
            `there is no coupon pool "${poolId}": create it with POST /api/coupons/pools`,
          );
        return {
          code: `${pool.prefix || pool.id.toUpperCase()}-PREVIEW`,
          poolId: pool.id,
          profileId: profile.id,
          issuedAt: now,
          expiresAt: pool.expiresAfterDays
            ? new Date(now.getTime() + pool.expiresAfterDays * 86_400_000)
            : null,
          value: pool.value,
          conditions: pool.conditions,
        };
      },
    });
    return { templateVersion: loaded.version, ...rendered };
  }

  async #render(
    loaded: LoadedVersion,
    input: {
      workspaceId: string;
      profile: Profile;
      data: Record<string, unknown>;
      links: RenderRequest["links"];
      messageId: string;
      now: Date;
      coupon: (poolId: string) => Promise<IssuedCoupon>;
    },
  ): Promise<RenderedContent> {
    const settings = renderSettings(
      await this.#settings.get(input.workspaceId),
    );
    return this.#threads.render(
      {
        key: loaded.key,
        compiled: loaded.compiled,
        scope: {
          profile: input.profile,
          data: input.data,
          settings,
          links: input.links,
          messageId: input.messageId,
          now: input.now,
        },
      },
      {
        products: productResolver(this.#db, {
          workspaceId: input.workspaceId,
          profile: input.profile,
          data: input.data,
          now: input.now,
        }),
        coupon: input.coupon,
      },
    );
  }

  async #profile(workspaceId: string, profileId: string): Promise<Profile> {
    let row = await getProfileRow(this.#db, workspaceId, profileId);
    if (row?.merged_into)
      row = await getProfileRow(this.#db, workspaceId, row.merged_into);
    if (!row)
      throw new DomainError("not_found", `there is no profile ${profileId}`, [
        { path: "/profileId", message: "unknown profile" },
      ]);
    return toProfile(row);
  }

  async #load(
    workspaceId: string,
    templateId: string,
    version: number | undefined,
  ): Promise<LoadedVersion> {
    const key = (v: number) => `${workspaceId}/${templateId}/${v}`;
    const wanted =
      version ?? (await currentVersion(this.#db, workspaceId, templateId));
    const hit =
      wanted === undefined ? undefined : this.#versions.get(key(wanted));
    if (hit) return hit;
    const row = await getVersion(this.#db, workspaceId, templateId, wanted);
    if (!row)
      throw new DomainError(
        "not_found",
        version === undefined
          ? `there is no template ${templateId}`
          : `template ${templateId} has no version ${version}`,
      );
    const cached = this.#versions.get(key(row.version));
    if (cached) return cached;
    const loaded: LoadedVersion = {
      version: row.version,
      key: key(row.version),
      compiled: row.compiled,
    };
    if (this.#versions.size >= cacheSize) {
      const oldest = this.#versions.keys().next().value;
      if (oldest !== undefined) this.#versions.delete(oldest);
    }
    this.#versions.set(loaded.key, loaded);
    return loaded;
  }
}
