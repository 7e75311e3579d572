/**
 * The PII policy a schema declares: `x-sluice-pii` on a top-level property, either an action
 * name or an object with options.
 *
 * ```json
 * "card_number": { "type": "string", "x-sluice-pii": "tokenize" },
 * "email": { "type": "string", "x-sluice-pii": "encrypt" },
 * "lat": { "type": "number", "x-sluice-pii": { "action": "generalize", "grid": 0.1 } },
 * "phone": { "type": "string", "x-sluice-pii": "mask" },
 * "device_ip": { "type": "string", "x-sluice-pii": "drop" }
 * ```
 *
 * - `mask`: every character but the last 4 becomes `*`.
 * - `tokenize`: `tok_` and a keyed HMAC-SHA-256 of the value: equal values give equal tokens, so joins and per-customer windows still work.
 * - `encrypt`: AES-256-GCM with the keyring's current key; the key id and the nonce (derived from the event id, field and value in the ingest chain: pii/actions.ts) travel in the ciphertext (`sluice pii decrypt`).
 * - `generalize`: a number rounded to `grid` (default 0.01, about 1 km of latitude); a time rounded down to the hour (`"to": "hour"`).
 * - `drop`: the field is removed.
 */
export const PII_KEYWORD = "x-sluice-pii";

export const PII_ACTIONS = ["mask", "tokenize", "encrypt", "generalize", "drop"] as const;
export type PiiAction = (typeof PII_ACTIONS)[number];

export type PiiRule =
  | { readonly action: "mask" | "tokenize" | "encrypt" | "drop" }
  | { readonly action: "generalize"; readonly grid: number; readonly to: "grid" | "hour" };

/** Field name → rule, for one schema version. */
export type PiiPolicy = ReadonlyMap<string, PiiRule>;

export const DEFAULT_GRID = 0.01;

/** A `x-sluice-pii` annotation that cannot be applied; names the field. */
export class PiiPolicyError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`/properties/${field}/${PII_KEYWORD}: ${message}`);
    this.name = "PiiPolicyError";
    this.field = field;
  }
}

const isAction = (v: unknown): v is PiiAction => typeof v === "string" && (PII_ACTIONS as readonly string[]).includes(v);

function ruleOf(field: string, declared: unknown): PiiRule {
  const spec = typeof declared === "string" ? { action: declared } : declared;
  if (spec === null || typeof spec !== "object") throw new PiiPolicyError(field, `expected an action name or an object, got ${JSON.stringify(declared)}`);
  const { action, grid, to } = spec as Record<string, unknown>;
  if (!isAction(action)) throw new PiiPolicyError(field, `action must be one of ${PII_ACTIONS.join(", ")}, got ${JSON.stringify(action)}`);
  if (action !== "generalize") return { action };
  if (grid !== undefined && !(typeof grid === "number" && grid > 0 && Number.isFinite(grid))) throw new PiiPolicyError(field, `grid must be a positive number, got ${JSON.stringify(grid)}`);
  if (to !== undefined && to !== "grid" && to !== "hour") throw new PiiPolicyError(field, `to must be "grid" or "hour", got ${JSON.stringify(to)}`);
  return { action, grid: (grid as number | undefined) ?? DEFAULT_GRID, to: (to as "grid" | "hour" | undefined) ?? "grid" };
}

/** The policy of a JSON Schema document: its top-level properties that carry `x-sluice-pii`. */
export function policyOf(schema: unknown): PiiPolicy {
  const properties = (schema as { properties?: Record<string, unknown> } | null)?.properties;
  const policy = new Map<string, PiiRule>();
  if (!properties || typeof properties !== "object") return policy;
  for (const [field, property] of Object.entries(properties)) {
    const declared = (property as Record<string, unknown> | null)?.[PII_KEYWORD];
    if (declared !== undefined) policy.set(field, ruleOf(field, declared));
  }
  return policy;
}

/** Whether applying `policy` needs the keyring. */
export function needsKeys(policy: PiiPolicy): boolean {
  for (const rule of policy.values()) if (rule.action === "tokenize" || rule.action === "encrypt") return true;
  return false;
}
