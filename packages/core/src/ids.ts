/**
 * Identifiers and secrets, from the platform's Web Crypto (browser and Node alike).
 * Row ids are UUIDv7 so that new rows land at the end of their index.
 */

const hex = (byte: number) => byte.toString(16).padStart(2, "0");

let last: { time: number; bytes: Uint8Array } | undefined;

/**
 * A UUIDv7 whose time part is `at` (RFC 9562 §5.7). Ids made for the same millisecond
 * count up from the previous one (the method of §6.2: the random bits as a counter), so
 * they sort in the order they were made, as the ledger's and the queues' claim order
 * (`order by …, id`) expects.
 */
export function uuidv7(at: Date): string {
  const time = at.getTime();
  let bytes: Uint8Array;
  if (last && last.time === time) {
    bytes = last.bytes;
    for (let i = 15; i >= 9; i--) {
      bytes[i] = ((bytes[i] ?? 0) + 1) & 0xff;
      if (bytes[i] !== 0) break;
    }
  } else {
    bytes = crypto.getRandomValues(new Uint8Array(16));
    let t = time;
    for (let i = 5; i >= 0; i--) {
      bytes[i] = t % 256;
      t = Math.floor(t / 256);
    }
    bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70;
    bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
    // Leave room to count: the counter's top bit starts clear.
    bytes[9] = (bytes[9] ?? 0) & 0x7f;
    last = { time, bytes };
  }
  const h = Array.from(bytes, hex).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const alphabet =
  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `length` random characters from [0-9A-Za-z], unbiased. */
export function randomToken(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      // 248 = 4 × 62: bytes above it would favour the first characters.
      if (byte < 248 && out.length < length) out += alphabet[byte % 62];
    }
  }
  return out;
}

/** A short public id with a kind prefix, such as `ws_3kTq9…`. */
export function prefixedId(prefix: string): string {
  return `${prefix}_${randomToken(16)}`;
}

/** The SHA-256 of `text` as lower-case hex: how keys and tokens are stored. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Array.from(new Uint8Array(digest), hex).join("");
}
