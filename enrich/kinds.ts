/**
 * Reference data by kind: which source's events a kind enriches, by which payload field, and the
 * prefix its fields take in the event (`merchants` entry `{ "category": "grocery" }` becomes the
 * txn payload's `merchant_category`). Each kind lives in its own NATS KV bucket, keyed by the id.
 */
export const REFERENCE_KINDS = {
  sensors: { source: "iot", keyField: "sensor_id", prefix: "sensor" },
  merchants: { source: "txn", keyField: "merchant_id", prefix: "merchant" },
  users: { source: "social", keyField: "user_id", prefix: "user" },
} as const;

export type ReferenceKind = keyof typeof REFERENCE_KINDS;
export const KIND_NAMES = Object.keys(REFERENCE_KINDS) as ReferenceKind[];

export function isReferenceKind(value: string): value is ReferenceKind {
  return value in REFERENCE_KINDS;
}

/** The KV bucket of a kind, e.g. `sluice-ref-merchants`. */
export function referenceBucket(kind: ReferenceKind): string {
  return `sluice-ref-${kind}`;
}

/** The bucket options of every writer and of the enrich stage, so whichever creates a bucket creates the same one. */
export const REFERENCE_BUCKET_OPTIONS = { history: 10 } as const;

/** The kind that enriches a source's events, if any. */
export function kindOfSource(source: string): ReferenceKind | undefined {
  return KIND_NAMES.find((k) => REFERENCE_KINDS[k].source === source);
}

/** What an event whose reference entry is missing does: pass through flagged (`<prefix>_ref_missing: true`), or go to the DLQ. */
export const MISSING_REFERENCE_ACTIONS = ["flag", "dead_letter"] as const;
export type MissingReference = (typeof MISSING_REFERENCE_ACTIONS)[number];
