/**
 * Generated order histories with the structure real stores have, so that comparing
 * recommenders means something: popularity is skewed (a few products sell most), every
 * shopper has favourite categories, and products have partners that are bought with them
 * (the phone and its case, the shampoo and its conditioner) or shortly after them. A
 * seeded random generator makes every run the same.
 */

/** A product of the generated catalog. */
export interface GeneratedProduct {
  productId: string;
  category: string;
  price: number;
  /** Products bought with or after this one far more often than chance. */
  partners: string[];
}

/** One generated order. */
export interface GeneratedOrder {
  orderId: string;
  shopper: number;
  placedAt: Date;
  productIds: string[];
}

/** A small deterministic PRNG (mulberry32). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Zipf-like pick of an index below `n`: index 0 most often. */
function skewed(rand: () => number, n: number, power = 1.1): number {
  return Math.min(n - 1, Math.floor(n * rand() ** (power + 1)));
}

/** A catalog and a year of orders. */
export function generateHistory(options: {
  seed: number;
  categories: number;
  productsPerCategory: number;
  shoppers: number;
  start: Date;
  days: number;
}): { products: GeneratedProduct[]; orders: GeneratedOrder[] } {
  const rand = random(options.seed);
  const products: GeneratedProduct[] = [];
  const byCategory: GeneratedProduct[][] = [];
  for (let c = 0; c < options.categories; c++) {
    const list: GeneratedProduct[] = [];
    for (let p = 0; p < options.productsPerCategory; p++) {
      const product = {
        productId: `c${c}-p${p}`,
        category: `category-${c}`,
        price: Math.round((5 + rand() * 200) * 100) / 100,
        partners: [],
      };
      list.push(product);
      products.push(product);
    }
    byCategory.push(list);
  }
  // Each category complements two others; each product has three partners there.
  for (const [c, list] of byCategory.entries()) {
    const complements = [
      (c + 1) % options.categories,
      (c + 7) % options.categories,
    ];
    for (const product of list) {
      for (let k = 0; k < 3; k++) {
        const category =
          byCategory[complements[k % complements.length] ?? 0] ?? [];
        const partner = category[skewed(rand, category.length, 0.3)];
        if (partner && !product.partners.includes(partner.productId))
          product.partners.push(partner.productId);
      }
    }
  }

  const orders: GeneratedOrder[] = [];
  const dayMs = 86_400_000;
  for (let shopper = 0; shopper < options.shoppers; shopper++) {
    const favourites = [
      skewed(rand, options.categories, 0.5),
      skewed(rand, options.categories, 0.5),
    ];
    const count = 1 + Math.floor(rand() * 5);
    let day = Math.floor(rand() * options.days * 0.8);
    let previous: string[] = [];
    for (let o = 0; o < count && day < options.days; o++) {
      const ids = new Set<string>();
      // Half the time the next order follows up the last one with a partner product.
      if (previous.length > 0 && rand() < 0.5) {
        const from = products.find(
          (p) => p.productId === previous[Math.floor(rand() * previous.length)],
        );
        const partner =
          from?.partners[Math.floor(rand() * from.partners.length)];
        if (partner) ids.add(partner);
      }
      const category =
        byCategory[favourites[Math.floor(rand() * favourites.length)] ?? 0] ??
        [];
      const anchor = category[skewed(rand, category.length)];
      if (anchor) {
        ids.add(anchor.productId);
        if (rand() < 0.6) {
          const partner =
            anchor.partners[Math.floor(rand() * anchor.partners.length)];
          if (partner) ids.add(partner);
        }
      }
      if (rand() < 0.3) {
        const any = products[skewed(rand, products.length, 0.6)];
        if (any) ids.add(any.productId);
      }
      if (ids.size === 0) continue;
      orders.push({
        orderId: `o-${shopper}-${o}`,
        shopper,
        placedAt: new Date(
          options.start.getTime() + day * dayMs + Math.floor(rand() * dayMs),
        ),
        productIds: [...ids],
      });
      previous = [...ids];
      day += 7 + Math.floor(rand() * 45);
    }
  }
  orders.sort((a, b) => a.placedAt.getTime() - b.placedAt.getTime());
  return { products, orders };
}
