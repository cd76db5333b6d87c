import type { ErrorDetail } from "./domain-error.ts";

/**
 * What PostgreSQL can keep of a JSON value, checked before anything is acknowledged so
 * that no write is refused by the database after its caller was told it succeeded.
 */

/** The bounds every stored JSON value keeps. */
export const storableLimits = {
  /** Objects and arrays inside one another (a stack overflow in an encoder past it). */
  depth: 32,
  /** Characters of an object key. */
  keyLength: 255,
} as const;

/** The earliest and latest times PostgreSQL reads back from an ISO-8601 string. */
export const storableTimes = {
  earliest: new Date("0001-01-01T00:00:00.000Z"),
  latest: new Date("9999-12-31T23:59:59.999Z"),
} as const;

/** True when PostgreSQL can store `at` (four-digit years of the common era). */
export function isStorableTime(at: Date): boolean {
  const ms = at.getTime();
  return (
    ms >= storableTimes.earliest.getTime() &&
    ms <= storableTimes.latest.getTime()
  );
}

const loneSurrogate =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when `text` holds a NUL or a UTF-16 surrogate without its pair: text PostgreSQL refuses. */
export function isUnstorableText(text: string): boolean {
  return text.includes("\u0000") || loneSurrogate.test(text);
}

/** How `findUnstorable` judges a value. */
export interface StorableOptions {
  /** Where the value sits, as the start of every path reported (`/body`). */
  path?: string;
  /** The deepest nesting allowed; `storableLimits.depth` unless given. */
  maxDepth?: number;
  /** The longest string allowed, in characters; unbounded unless given. */
  maxStringLength?: number;
  /** Refuse NUL and lone surrogates (true), or leave them to a sanitizer (false). */
  refuseText?: boolean;
}

const pointer = (key: string) =>
  key.replaceAll("~", "~0").replaceAll("/", "~1");

/**
 * The first part of `value` that PostgreSQL cannot store, with its path and what to do;
 * undefined when all of it can be stored. Walks without recursion, so any depth is safe.
 */
export function findUnstorable(
  value: unknown,
  options: StorableOptions = {},
): ErrorDetail | undefined {
  const maxDepth = options.maxDepth ?? storableLimits.depth;
  const maxString = options.maxStringLength ?? Infinity;
  const refuseText = options.refuseText ?? true;
  const stack: { value: unknown; path: string; depth: number }[] = [
    { value, path: options.path ?? "", depth: 0 },
  ];
  const text = (s: string, path: string, what: string) => {
    if (refuseText && isUnstorableText(s))
      return {
        path: path || "/",
        message: `${what} holds a NUL character or a lone UTF-16 surrogate, which cannot be stored; remove it`,
      };
    return undefined;
  };
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { value: v, path, depth } = next;
    if (typeof v === "string") {
      if (v.length > maxString)
        return {
          path: path || "/",
          message: `is longer than ${maxString} characters (${v.length}); send a shorter value`,
        };
      const bad = text(v, path, "the text");
      if (bad) return bad;
    } else if (typeof v === "number") {
      if (!Number.isFinite(v))
        return {
          path: path || "/",
          message:
            "is a number out of range (past ±1.8e308); send a finite number",
        };
    } else if (typeof v === "object" && v !== null) {
      if (depth >= maxDepth)
        return {
          path: path || "/",
          message: `is nested more than ${maxDepth} levels deep; flatten it`,
        };
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--)
          stack.push({ value: v[i], path: `${path}/${i}`, depth: depth + 1 });
      } else {
        const entries = Object.entries(v);
        for (let i = entries.length - 1; i >= 0; i--) {
          const [key, child] = entries[i] as [string, unknown];
          const at = `${path}/${pointer(key)}`;
          if (key.length > storableLimits.keyLength)
            return {
              path: at,
              message: `the key is longer than ${storableLimits.keyLength} characters; use a shorter name`,
            };
          const bad = text(key, at, "the key");
          if (bad) return bad;
          stack.push({ value: child, path: at, depth: depth + 1 });
        }
      }
    }
  }
  return undefined;
}
