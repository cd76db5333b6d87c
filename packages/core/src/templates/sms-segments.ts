/**
 * SMS length as carriers count it. A message in the GSM 03.38 alphabet is sent 7 bits a
 * character (160 in one part, 153 a part when split, the extension characters `^{}\[~]|€`
 * taking two); any other character switches the whole message to UCS-2 (70 in one part,
 * 67 a part, counted in UTF-16 units, so an emoji takes two).
 */

const gsmBasic =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const gsmExtension = "\f^{}\\[~]|€";
const basic = new Set(gsmBasic);
const extension = new Set(gsmExtension);

/** The length and parts of an SMS text. */
export interface SmsStats {
  encoding: "GSM-7" | "UCS-2";
  /** Characters as the encoding counts them (septets for GSM-7, UTF-16 units for UCS-2). */
  length: number;
  segments: number;
  /** Characters left in the last part before another part starts. */
  remaining: number;
  /** The characters that forced UCS-2, if any (at most 10). */
  unicodeCharacters: string[];
}

/** The stats of `text`. */
export function smsStats(text: string): SmsStats {
  let septets = 0;
  const unicode = new Set<string>();
  for (const char of text) {
    if (basic.has(char)) septets += 1;
    else if (extension.has(char)) septets += 2;
    else unicode.add(char);
  }
  if (unicode.size === 0) {
    const segments = septets <= 160 ? 1 : Math.ceil(septets / 153);
    const capacity = segments === 1 ? 160 : segments * 153;
    return {
      encoding: "GSM-7",
      length: septets,
      segments,
      remaining: capacity - septets,
      unicodeCharacters: [],
    };
  }
  const units = text.length;
  const segments = units <= 70 ? 1 : Math.ceil(units / 67);
  const capacity = segments === 1 ? 70 : segments * 67;
  return {
    encoding: "UCS-2",
    length: units,
    segments,
    remaining: capacity - units,
    unicodeCharacters: [...unicode].slice(0, 10),
  };
}
