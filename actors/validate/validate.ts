import { createHash } from "node:crypto";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { HEADERS, parseRawSubject, partitionOf, subject } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { SCHEMA_VERSION, SCHEMAS_V1 } from "../../subjects/schemas/index.ts";
import { isSource, KEY_FIELD, SOURCES, type Source } from "../../subjects/sources.ts";
import { PoisonError } from "../runtime/errors.ts";
import type { Inbound, Outbound } from "../runtime/actor.ts";
import { parseEventTime } from "./event-time.ts";

// ajv-formats is CommonJS; under Node's ESM loader its default export is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

const decoder = new TextDecoder("utf-8", { fatal: true });
const MAX_REPORTED_ERRORS = 3;

export interface ValidatorOptions {
  readonly partitions: number;
}

export type Verdict =
  | { readonly ok: true; readonly envelope: Envelope; readonly out: Outbound }
  | { readonly ok: false; readonly error: PoisonError };

function describe(err: ErrorObject, data: unknown): string {
  const path = err.instancePath || "/";
  let got: unknown = data;
  for (const token of err.instancePath.split("/").slice(1)) {
    got = got && typeof got === "object" ? (got as Record<string, unknown>)[token.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
  }
  const shown = got === undefined ? "nothing" : JSON.stringify(got)?.slice(0, 60);
  if (err.keyword === "required") return `${path}: missing required field "${(err.params as { missingProperty: string }).missingProperty}"`;
  if (err.keyword === "additionalProperties") return `${path}: unexpected field "${(err.params as { additionalProperty: string }).additionalProperty}"`;
  return `${path}: ${err.message ?? err.keyword} (got ${shown})`;
}

function fail(code: string, message: string, field?: string): Verdict {
  return { ok: false, error: new PoisonError(code, message, { field }) };
}

/**
 * The validate stage as a pure function from a raw message to an envelope (or the reason it is
 * rejected). Event ids: the producer's `Nats-Msg-Id`, else its `event_id` field, else a hash of
 * the message's stream and sequence, so a replay of the same message dedupes.
 */
export function createValidator(opts: ValidatorOptions): (input: Inbound) => Verdict {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validators = Object.fromEntries(SOURCES.map((s) => [s, ajv.compile(SCHEMAS_V1[s])])) as Record<Source, ValidateFunction>;

  return (input) => {
    const where = `${input.subject} (stream ${input.stream} seq ${input.seq})`;
    const parsedSubject = parseRawSubject(input.subject);
    if (!parsedSubject) return fail("subject", `${where}: subject must be raw.<source>.<key>`);
    const { source, key } = parsedSubject;
    if (!isSource(source)) return fail("unknown_source", `${where}: unknown source "${source}"; expected one of ${SOURCES.join(", ")}`);
    if (input.data.length === 0) return fail("empty", `${where}: empty payload; expected one JSON object`);

    let text: string;
    try {
      text = decoder.decode(input.data);
    } catch {
      return fail("encoding", `${where}: payload is not valid UTF-8`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      return fail("json", `${where}: payload is not valid JSON (${(err as Error).message})`);
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      return fail("not_object", `${where}: payload must be a JSON object, got ${Array.isArray(data) ? "an array" : data === null ? "null" : typeof data}`);
    }

    const validate = validators[source];
    if (!validate(data)) {
      const errors = validate.errors ?? [];
      const shown = errors.slice(0, MAX_REPORTED_ERRORS).map((e) => describe(e, data)).join("; ");
      const more = errors.length > MAX_REPORTED_ERRORS ? ` (+${errors.length - MAX_REPORTED_ERRORS} more)` : "";
      return fail("schema", `${where}: does not match schema ${source} v${SCHEMA_VERSION}: ${shown}${more}`, errors[0]?.instancePath || "/");
    }
    const payload = data as Record<string, unknown>;
    const keyField = KEY_FIELD[source];
    if (payload[keyField] !== key) {
      return fail("key_mismatch", `${where}: /${keyField} is ${JSON.stringify(payload[keyField])} but the subject's key is "${key}"; publish on ${subject.raw(source, String(payload[keyField]))}`, `/${keyField}`);
    }
    const eventTime = parseEventTime(payload.ts);
    if (eventTime === undefined) return fail("event_time", `${where}: /ts ${JSON.stringify(payload.ts)} is not a time; expected RFC 3339 or unix seconds/ms/ns`, "/ts");

    const eventId = input.headers.get(HEADERS.msgId) ||
      (typeof payload.event_id === "string" ? payload.event_id : "") ||
      createHash("sha256").update(`${input.stream}:${input.seq}`).digest("hex").slice(0, 32);

    const envelope: Envelope = {
      event_id: eventId,
      source,
      key,
      schema_version: SCHEMA_VERSION,
      event_time: eventTime,
      ingest_time: input.timestampMs,
      payload,
      raw_subject: input.subject,
      raw_seq: input.seq,
    };
    return {
      ok: true,
      envelope,
      out: { subject: subject.events(source, partitionOf(key, opts.partitions)), data: JSON.stringify(envelope), msgId: eventId },
    };
  };
}
