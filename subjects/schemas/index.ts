import type { SchemaObject } from "ajv";
import { SOURCES, type Source } from "../sources.ts";
import iot from "./iot.v1.json" with { type: "json" };
import social from "./social.v1.json" with { type: "json" };
import txn from "./txn.v1.json" with { type: "json" };
import iotV2 from "./iot.v2.json" with { type: "json" };
import socialV2 from "./social.v2.json" with { type: "json" };
import txnV2 from "./txn.v2.json" with { type: "json" };

/**
 * Event time as producers write it: RFC 3339 (`nats pub` `{{TimeStamp}}`), unix seconds, millis or
 * nanos as a number (`{{Unix}}`, `{{UnixNano}}`), or those digits as a string.
 */
export type RawTimestamp = string | number;

interface RawPayloadBase {
  ts: RawTimestamp;
  event_id?: string;
}

/** What a sensor publishes on `raw.iot.<sensor_id>`; at least one metric is set. */
export interface IotPayload extends RawPayloadBase {
  sensor_id: string;
  site?: string;
  /** Degrees Celsius. */
  temperature?: number;
  /** Relative humidity, 0..100 %. */
  humidity?: number;
  /** Hectopascal. */
  pressure?: number;
  /** Volt. */
  battery?: number;
}

/** What a social client publishes on `raw.social.<user_id>`. */
export interface SocialPayload extends RawPayloadBase {
  post_id?: string;
  user_id: string;
  topic: string;
  text: string;
  /** ISO 639-1, lower case. */
  lang?: string;
  likes?: number;
  reposts?: number;
  /** v2: the posting device's IP address (PII). */
  device_ip?: string;
}

export type TxnChannel = "card_present" | "online" | "atm";

/** What a payment system publishes on `raw.txn.<customer_id>`; `card_number` and `email` are PII. */
export interface TxnPayload extends RawPayloadBase {
  txn_id?: string;
  customer_id: string;
  merchant_id: string;
  amount: number;
  /** ISO 4217, e.g. "EUR". */
  currency: string;
  /** ISO 3166-1 alpha-2, e.g. "DE". */
  country?: string;
  lat?: number;
  lon?: number;
  channel?: TxnChannel;
  card_number?: string;
  email?: string;
  /** v2. */
  phone?: string;
}

/** The payload type of each source. Extra properties are allowed on the wire; these are the known ones. */
export interface PayloadBySource {
  iot: IotPayload;
  social: SocialPayload;
  txn: TxnPayload;
}

export const SCHEMA_VERSION = 1;

/**
 * The v1 JSON Schemas (draft-07, so a plain `new Ajv()` compiles them; `date-time` and `email`
 * need ajv-formats).
 *
 * @example
 * import { Ajv } from "ajv";
 * import addFormats from "ajv-formats"; // CommonJS: under Node's ESM loader call addFormats.default
 * const ajv = new Ajv({ allErrors: true, strict: true });
 * addFormats.default(ajv);
 * const validateIot = ajv.compile<IotPayload>(SCHEMAS_V1.iot);
 * validateIot({ sensor_id: "s1", ts: "2026-11-27T10:00:00Z", temperature: 21 }); // true
 */
export const SCHEMAS_V1: Readonly<Record<Source, SchemaObject>> = Object.freeze({ iot, social, txn });

/**
 * Version 2 of every source: v1 plus `x-sluice-pii` on every personal field (see pii/policy.ts),
 * the fields the generator adds (txn `phone`, social `device_ip`) and the `<entity>_*` fields the
 * enrich stage adds from reference data (enrich/), so they get typed columns; compatible with v1
 * in every mode. The registry registers them at its start ({@link SHIPPED_SCHEMAS}); the ingest
 * chain protects what the source's current version declares.
 */
export const SCHEMAS_V2: Readonly<Record<Source, SchemaObject>> = Object.freeze({ iot: iotV2, social: socialV2, txn: txnV2 });

/**
 * Every shipped version of each source, oldest first (index 0 is v1): what the schema registry
 * holds from its start (subjects/registry), so the shipped PII rules of v2 are on by default.
 */
export const SHIPPED_SCHEMAS: Readonly<Record<Source, readonly SchemaObject[]>> = Object.freeze(
  Object.fromEntries(SOURCES.map((source) => [source, Object.freeze([SCHEMAS_V1[source], SCHEMAS_V2[source]])])) as Record<Source, readonly SchemaObject[]>,
);

/**
 * The properties that identify a person, per source, read from the shipped schemas (`"$comment":
 * "pii"` in any version) so the list cannot drift from them.
 *
 * @example
 * PII_FIELDS.txn // ["card_number", "email", "lat", "lon", "phone"]
 */
export const PII_FIELDS: Readonly<Record<Source, readonly string[]>> = Object.freeze(
  Object.fromEntries(SOURCES.map((source) => {
    const pii = new Set<string>();
    for (const schema of [SCHEMAS_V1[source], SCHEMAS_V2[source]]) {
      const properties = (schema?.properties ?? {}) as Record<string, { $comment?: string }>;
      for (const name of Object.keys(properties)) if (properties[name].$comment === "pii") pii.add(name);
    }
    return [source, Object.freeze([...pii].sort())];
  })) as Record<Source, readonly string[]>,
);
