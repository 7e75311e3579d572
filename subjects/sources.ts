/**
 * The event sources sluice knows. A source is the second token of a raw subject
 * (`raw.<source>.<key>`) and names the schema that validates its payloads.
 *
 * @example
 * isSource("iot") // true
 */
export const SOURCES = ["iot", "social", "txn"] as const;
export type Source = (typeof SOURCES)[number];

export function isSource(value: string): value is Source {
  return (SOURCES as readonly string[]).includes(value);
}

/** The payload field that names each source's entity; it is also the raw subject's key token. */
export const KEY_FIELD = {
  iot: "sensor_id",
  social: "user_id",
  txn: "customer_id",
} as const satisfies Record<Source, string>;
