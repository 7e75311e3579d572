/**
 * What `sluice pii scan` looks for: values that look like personal data in clear, wherever they
 * are stored. Card numbers are digit runs of 13-19 that pass Luhn and start as issuers' do (2-6:
 * epoch-millisecond times start with 1); e-mail addresses; coordinates under a lat/lon-like key
 * with more than 2 decimals (finer than about 1 km). A finding says what and where, never the value.
 */
export const PII_KINDS = ["card_number", "email", "precise_coordinate"] as const;
export type PiiKind = (typeof PII_KINDS)[number];

export type PiiCounts = Record<PiiKind, number>;

const CARD = /(?<![0-9A-Za-z_-])[2-6][0-9]{12,18}(?![0-9A-Za-z_-])/g;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const COORDINATE_KEY = /^(lat|lon|lng|latitude|longitude)$/i;

export function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let n = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) n = n * 2 > 9 ? n * 2 - 9 : n * 2;
    sum += n;
  }
  return sum % 10 === 0;
}

export function emptyCounts(): PiiCounts {
  return { card_number: 0, email: 0, precise_coordinate: 0 };
}

function decimals(n: number): number {
  const s = String(n);
  const dot = s.indexOf(".");
  return dot < 0 || s.includes("e") ? 0 : s.length - dot - 1;
}

function scanString(text: string, counts: PiiCounts): void {
  for (const m of text.matchAll(CARD)) if (luhn(m[0])) counts.card_number++;
  counts.email += text.match(EMAIL)?.length ?? 0;
}

function walk(value: unknown, key: string | undefined, counts: PiiCounts, depth: number): void {
  if (typeof value === "string") {
    // JSON kept as text inside a row (sluice.events.payload, a dead letter's body) is scanned as JSON.
    const t = value.trimStart();
    if (depth < 4 && (t.startsWith("{") || t.startsWith("["))) {
      try {
        return walk(JSON.parse(value), key, counts, depth + 1);
      } catch {
        // not JSON after all: scanned as text
      }
    }
    scanString(value, counts);
    return;
  }
  if (typeof value === "number") {
    if (key !== undefined && COORDINATE_KEY.test(key) && decimals(value) > 2) counts.precise_coordinate++;
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) walk(v, key, counts, depth);
    return;
  }
  if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, k, counts, depth);
}

/** Adds what `value` (a row, a decoded message, a header value) holds to `counts`. */
export function scanValue(value: unknown, counts: PiiCounts = emptyCounts()): PiiCounts {
  walk(value, undefined, counts, 0);
  return counts;
}

export function total(counts: PiiCounts): number {
  return counts.card_number + counts.email + counts.precise_coordinate;
}
