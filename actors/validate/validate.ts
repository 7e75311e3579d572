import type { ErrorObject, ValidateFunction } from "ajv";
import { HEADERS, parseRawSubject, partitionOf, subject } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { eventIdOf, eventMsgId } from "../../subjects/identity.ts";
import { UpcastError } from "../../subjects/schemas/migrations.ts";
import { isSource, KEY_FIELD, SOURCES, type Source } from "../../subjects/sources.ts";
import { DEFAULT_MAX_FUTURE_SKEW_MS } from "../../config/index.ts";
import { PoisonError } from "../runtime/errors.ts";
import type { Inbound, Outbound } from "../runtime/actor.ts";
import { parseEventTime } from "./event-time.ts";
import { shapeProblem } from "./limits.ts";
import { BUILT_IN_SCHEMAS, compiledVersions, personalFields, statedVersion, upcast, type SchemaSource } from "./versions.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });
const MAX_REPORTED_ERRORS = 3;
const NOT_SHOWN = "a value not shown: PII";

export interface ValidatorOptions {
  readonly partitions: number;
  /** Registered schema versions (a `SchemaRegistry`); default: the v1 schemas in subjects/schemas. */
  readonly schemas?: SchemaSource;
  /**
   * How far an event time may lie ahead of the message's RAW stream timestamp, ms; default
   * {@link DEFAULT_MAX_FUTURE_SKEW_MS}. One reading from a clock hours ahead would otherwise move
   * its partition's watermark hours ahead, and every later reading would arrive "late".
   */
  readonly maxFutureSkewMs?: number;
  /**
   * The rest of the ingest chain on a valid payload, before it is published (enrich, then protect
   * PII: pii/ingest.ts): the payload EVENTS carries, or why the event is dead-lettered. Given the
   * event's id so that what it does (encryption's nonce) is the same when the message is handled again.
   */
  readonly refine?: (source: Source, payload: Record<string, unknown>, eventId: string) => Record<string, unknown> | PoisonError;
}

export type Verdict =
  | { readonly ok: true; readonly envelope: Envelope; readonly out: Outbound }
  | { readonly ok: false; readonly error: PoisonError };

const unescape = (token: string) => token.replace(/~1/g, "/").replace(/~0/g, "~");

/**
 * A value as a reason may quote it: never one of the source's personal fields (`hidden`), and
 * never an object or array, which may hold them (the whole payload, at the root).
 */
function quoted(value: unknown, field: string | undefined, hidden: ReadonlySet<string>): string {
  if (value === undefined) return "nothing";
  if (field !== undefined && hidden.has(field)) return NOT_SHOWN;
  if (value !== null && typeof value === "object") return Array.isArray(value) ? "an array" : "an object";
  return JSON.stringify(value)?.slice(0, 60) ?? String(value);
}

function describe(err: ErrorObject, data: unknown, hidden: ReadonlySet<string>): string {
  const path = err.instancePath || "/";
  let got: unknown = data;
  for (const token of err.instancePath.split("/").slice(1)) {
    got = got && typeof got === "object" ? (got as Record<string, unknown>)[unescape(token)] : undefined;
  }
  const topField = err.instancePath.split("/")[1];
  const shown = quoted(got, topField === undefined ? undefined : unescape(topField), hidden);
  if (err.keyword === "required") return `${path}: missing required field "${(err.params as { missingProperty: string }).missingProperty}"`;
  if (err.keyword === "additionalProperties") return `${path}: unexpected field "${(err.params as { additionalProperty: string }).additionalProperty}"`;
  return `${path}: ${err.message ?? err.keyword} (got ${shown})`;
}

function schemaErrors(validate: ValidateFunction, data: unknown, hidden: ReadonlySet<string>): { shown: string; field: string } {
  const errors = validate.errors ?? [];
  const shown = errors.slice(0, MAX_REPORTED_ERRORS).map((e) => describe(e, data, hidden)).join("; ");
  const more = errors.length > MAX_REPORTED_ERRORS ? ` (+${errors.length - MAX_REPORTED_ERRORS} more)` : "";
  return { shown: `${shown}${more}`, field: errors[0]?.instancePath || "/" };
}

/** The stated version travels in the envelope, not in the payload, so every version's payloads have one shape. */
function withoutStatedVersion(data: Record<string, unknown>): Record<string, unknown> {
  if (!("schema_version" in data)) return data;
  const { schema_version: _stated, ...body } = data;
  return body;
}

/** An ISO time, or the raw number when it lies outside what Date can show. */
function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString();
}

function fail(code: string, message: string, field?: string): Verdict {
  return { ok: false, error: new PoisonError(code, message, { field }) };
}

/**
 * The validate stage as a pure function from a raw message to an envelope (or the reason it is
 * rejected). Event ids and the EVENTS `Nats-Msg-Id`: see subjects/identity.ts.
 *
 * Event time is judged against the RAW stream timestamp (the server's clock at ingest), not the
 * wall clock, so a replay of the stream decides the same way; a dead-letter replay is a new RAW
 * message with a new timestamp, so a reading rejected as too far ahead passes once its time has come.
 *
 * Versions: the producer's stated version (see {@link statedVersion}) or else the source's current
 * one. The payload is checked against the version it was written with, upcast through each later
 * version's declared steps, and checked against the current version, so EVENTS carries one shape
 * per source; the envelope's `schema_version` is the version the producer wrote.
 */
export function createValidator(opts: ValidatorOptions): (input: Inbound) => Verdict {
  const schemas = opts.schemas ?? BUILT_IN_SCHEMAS;
  const compiled = compiledVersions(schemas);
  const hiddenOf = personalFields(schemas);
  const maxFutureSkewMs = opts.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS;

  return (input) => {
    // Named only in a rejection: most events pass, so the text is not built for them.
    const where = () => `${input.subject} (stream ${input.stream} seq ${input.seq})`;
    const parsedSubject = parseRawSubject(input.subject);
    if (!parsedSubject) return fail("subject", `${where()}: subject must be raw.<source>.<key>`);
    const { source, key } = parsedSubject;
    if (!isSource(source)) return fail("unknown_source", `${where()}: unknown source "${source}"; expected one of ${SOURCES.join(", ")}`);
    if (input.data.length === 0) return fail("empty", `${where()}: empty payload; expected one JSON object`);

    let text: string;
    try {
      text = decoder.decode(input.data);
    } catch {
      return fail("encoding", `${where()}: payload is not valid UTF-8`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      // V8 quotes the text around the error, which may be part of a PII value: keep what and where only.
      return fail("json", `${where()}: payload is not valid JSON (${(err as Error).message.replace(/,\s*(?:\.\.\.)?"[\s\S]*$/, "")})`);
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      return fail("not_object", `${where()}: payload must be a JSON object, got ${Array.isArray(data) ? "an array" : data === null ? "null" : typeof data}`);
    }

    const shape = shapeProblem(data as Record<string, unknown>);
    if (shape) return fail(shape.code, `${where()}: ${shape.message}`, shape.field);
    const stated = statedVersion(input.headers, data as Record<string, unknown>);
    if ("error" in stated) return fail(stated.code, `${where()}: ${stated.error}`, stated.code === "unknown_schema_version" ? "/schema_version" : undefined);
    const current = schemas.current(source);
    const written = stated.version ?? current;
    const writtenSchema = compiled(source, written);
    if (!writtenSchema || written > current) {
      return fail("unknown_schema_version", `${where()}: schema ${source} v${written} (from the ${stated.from === "header" ? `${HEADERS.schemaVersion} header` : "payload's schema_version"}) is not registered; registered: ${schemas.versions(source).map((v) => `v${v}`).join(", ")} (sluice schema list)`, "/schema_version");
    }
    const body = withoutStatedVersion(data as Record<string, unknown>);
    if (!writtenSchema.validate(body)) {
      const { shown, field } = schemaErrors(writtenSchema.validate, body, hiddenOf(source));
      return fail("schema", `${where()}: does not match schema ${source} v${written}: ${shown}`, field);
    }
    let payload = body;
    if (written !== current) {
      try {
        payload = upcast((v) => compiled(source, v), body, written, current);
      } catch (err) {
        // An upcast step's message quotes the value it could not convert.
        const message = err instanceof UpcastError && hiddenOf(source).has(err.field) ? `/${err.field}: does not fit the upcast step (${NOT_SHOWN})` : (err as Error).message;
        return fail("upcast", `${where()}: cannot upcast ${source} v${written} to v${current}: ${message}`, err instanceof UpcastError ? `/${err.field}` : undefined);
      }
      const target = compiled(source, current)!;
      if (!target.validate(payload)) {
        const { shown, field } = schemaErrors(target.validate, payload, hiddenOf(source));
        return fail("upcast", `${where()}: upcast from ${source} v${written} does not match v${current}: ${shown}; the upcast steps of v${written + 1}..v${current} must produce a v${current} payload`, field);
      }
    }
    const keyField = KEY_FIELD[source];
    if (payload[keyField] !== key) {
      return fail("key_mismatch", `${where()}: /${keyField} is ${quoted(payload[keyField], keyField, hiddenOf(source))} but the subject's key is "${key}"; publish on ${subject.raw(source, String(payload[keyField]))}`, `/${keyField}`);
    }
    const eventTime = parseEventTime(payload.ts);
    if (eventTime === undefined) return fail("event_time", `${where()}: /ts ${quoted(payload.ts, "ts", hiddenOf(source))} is not a time; expected RFC 3339 or unix seconds/ms/ns`, "/ts");

    if (eventTime - input.timestampMs > maxFutureSkewMs) {
      const ahead = Math.round((eventTime - input.timestampMs) / 1000);
      // With ts a personal field, how far ahead it is would give it away as much as its value.
      const when = hiddenOf(source).has("ts") ? `(${NOT_SHOWN}) is` : `${iso(eventTime)} is ${ahead} s`;
      return fail("future_event_time", `${where()}: /ts ${when} after ingest ${iso(input.timestampMs)}, more than the ${maxFutureSkewMs} ms allowed; fix the producer's clock, or raise SLUICE_MAX_FUTURE_SKEW_MS if such skew is expected (replay the dead letter once its time has come)`, "/ts");
    }

    const eventId = eventIdOf(input.headers, payload, input.stream, input.seq);
    const refined = opts.refine ? opts.refine(source, payload, eventId) : payload;
    if (refined instanceof PoisonError) return { ok: false, error: refined };

    const envelope: Envelope = {
      event_id: eventId,
      source,
      key,
      schema_version: written,
      event_time: eventTime,
      ingest_time: input.timestampMs,
      payload: refined,
      raw_subject: input.subject,
      raw_seq: input.seq,
    };
    return {
      ok: true,
      envelope,
      out: replayedOutput(input, { subject: subject.events(source, partitionOf(key, opts.partitions)), data: JSON.stringify(envelope), msgId: eventMsgId(source, key, eventId) }),
    };
  };
}

/**
 * A replayed message (a dead letter or the lake) may come back after EVENTS' duplicate window,
 * when JetStream no longer drops its id: the header goes along so the sinks look its rows up.
 */
function replayedOutput(input: Inbound, out: Outbound): Outbound {
  const replays = input.headers.get(HEADERS.replayCount);
  return replays ? { ...out, headers: { [HEADERS.replayCount]: replays } } : out;
}
