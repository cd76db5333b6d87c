import { DomainError } from "../domain-error.ts";

/** The store platforms that send Herald webhooks. */
export const storePlatforms = ["shopify", "woocommerce"] as const;
export type StorePlatform = (typeof storePlatforms)[number];

/**
 * The form a shop is known by: a Shopify shop's myshopify.com domain, a WooCommerce
 * store's host name, both lower-case (as the platforms' webhook headers give them).
 */
export function normalizeShop(platform: StorePlatform, value: string): string {
  const raw = value.trim().toLowerCase();
  let host: string;
  try {
    host = new URL(raw.includes("://") ? raw : `https://${raw}`).host;
  } catch {
    throw new DomainError(
      "invalid",
      `${value} is not a shop domain or store URL`,
      [{ path: "/body/shop", message: "not a domain or URL" }],
    );
  }
  if (!host.includes(".")) {
    throw new DomainError(
      "invalid",
      `${value} is not a shop domain or store URL`,
      [{ path: "/body/shop", message: "not a domain or URL" }],
    );
  }
  if (platform === "shopify" && !host.endsWith(".myshopify.com")) {
    throw new DomainError(
      "invalid",
      `a Shopify shop is named by its myshopify.com domain (such as acme.myshopify.com), not ${value}`,
      [{ path: "/body/shop", message: "must end with .myshopify.com" }],
    );
  }
  return host;
}
