import { TABLES, WINDOW_TABLES } from "../clickhouse/schema.ts";
import { quoteString } from "../clickhouse/query.ts";
import { defaultWindowConfig } from "../windowing/config.ts";
import type { WindowConfig, WindowSpec } from "../windowing/types.ts";
import { HEADERS, STREAMS } from "../subjects/catalog.ts";
import { sequenceEventId } from "../subjects/identity.ts";
import { sqlTime } from "../clickhouse/queries.ts";
import { PII_FIELDS } from "../subjects/schemas/index.ts";
import type { Source } from "../subjects/sources.ts";
import type { RawMessage, RawReader } from "./raw.ts";
import type { ReferenceReader, ReferenceRevision } from "./refs.ts";
import { KIND_NAMES, REFERENCE_KINDS, type ReferenceKind } from "../enrich/kinds.ts";
import { DATABASE } from "../clickhouse/schema.ts";
import { LAKE_VIEWS } from "../lake/views.ts";
import { CIPHER_PREFIX, TOKEN_PREFIX } from "../pii/actions.ts";

/** Rows of one SELECT as objects. */
export type LineageRows = (sql: string) => Promise<Array<Record<string, unknown>>>;

/** What sluice knows of one event, from its raw message to every row it produced or contributed to. */
export interface EventLineage {
  readonly event_id: string;
  readonly event?: {
    source: string; key: string; schema_version: number; event_time: string; ingest_time: string;
    raw_subject: string; raw_seq: number; trace_id: string; payload: unknown;
  };
  /** The original message while RAW has it; `gone` says why it is not shown. */
  readonly raw: { subject: string; seq: number; stored_at: string; headers: Record<string, string>; bytes: number; text?: string; base64?: string; from: "RAW" | "lake" } | { gone: string };
  /** The version the producer wrote, the version stored, and the upcast between them. */
  readonly schema?: { written: number | "unknown"; stored: number; upcast?: string };
  readonly replays: number;
  /**
   * The payload's fields its schema marks as PII (`"$comment": "pii"`) and what sluice did with
   * them: stored as sent, and never quoted in a dead letter's reason.
   */
  readonly pii: ReadonlyArray<{ field: string; action: string }>;
  /**
   * The reference entries the enrich stage joined the event with (its `<prefix>_ref_rev`), or
   * found missing (`<prefix>_ref_missing`), with the entry as KV history still has it at that revision.
   */
  readonly references: ReadonlyArray<EventReference>;
  readonly windows: ReadonlyArray<{ window_id: string; kind: string; key: string; metric: string; window_start: string; window_end: string; count: number; version: number; definition: WindowSpec | undefined }>;
  readonly late: ReadonlyArray<{ late_id: string; reason: string; watermark: string; allowed_lateness_ms: number; window_ids: string[] }>;
  readonly anomalies: ReadonlyArray<{ metric: string; signal: string; severity: string; score: number; expected_low: number; expected_high: number; observed: number; explanation: unknown; detected_at: string }>;
  readonly dead_letters: ReadonlyArray<{ dlq_id: string; actor: string; error_code: string; reason: string; stream: string; stream_seq: number; received_at: string }>;
  /** Data-quality results that name this event as their sample failure. */
  readonly quality: ReadonlyArray<{ expectation: string; minute: string; reason: string }>;
}

export interface EventReference {
  readonly kind: ReferenceKind;
  readonly key: string;
  /** The KV revision used; absent when the entry was missing. */
  readonly revision?: number;
  readonly missing: boolean;
  /** The entry at that revision; absent with `gone` saying why. */
  readonly at?: ReferenceRevision;
  readonly gone?: string;
}

const s = (v: unknown) => String(v ?? "");
const n = (v: unknown) => Number(v);
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The window keys the event falls under: its entity key, and `<group>=<value>` for each payload-field group. */
function windowKeys(config: WindowConfig, source: string, key: string, payload: Record<string, unknown>): string[] {
  const groups = config.sources[source as keyof WindowConfig["sources"]]?.groups ?? [];
  const keys = groups.map((g) => (g.field === undefined ? key : payload[g.field] === undefined ? undefined : `${g.name}=${String(payload[g.field])}`));
  return [...new Set(keys.filter((k): k is string => k !== undefined))];
}

/** The spec a stored window was made by: the first of its kind in the source's config (its bounds tell size and slide). */
function definitionOf(config: WindowConfig, source: string, kind: string): WindowSpec | undefined {
  return config.sources[source as keyof WindowConfig["sources"]]?.windows.find((w) => w.kind === kind);
}

/**
 * The RAW message as the lake keeps it (`sluice.lake_raw`, Parquet files of every RAW message),
 * for when RAW itself has forgotten it. Undefined when there is no lake view or no such row.
 */
async function fromLake(rows: LineageRows, source: string, subject: string, seq: number): Promise<(RawMessage & { lake: true }) | undefined> {
  const found = await rows(`SELECT subject, seq, toUnixTimestamp64Milli(stream_time) AS stored_ms, headers, hex(data) AS data_hex FROM ${DATABASE}.${LAKE_VIEWS.raw}
WHERE source = ${quoteString(source)} AND seq = ${seq} AND subject = ${quoteString(subject)}
LIMIT 1`).catch(() => []);
  const [r] = found;
  if (!r) return undefined;
  const headers = (typeof r.headers === "object" && r.headers !== null ? r.headers : {}) as Record<string, string>;
  return { subject: s(r.subject), seq: n(r.seq), storedAt: n(r.stored_ms), headers, data: Buffer.from(s(r.data_hex), "hex"), lake: true };
}

function statedVersion(headers: Record<string, string>, text: string | undefined): number | "unknown" {
  const header = headers[HEADERS.schemaVersion];
  if (header !== undefined && /^\d+$/.test(header)) return Number(header);
  try {
    const v = (JSON.parse(text ?? "") as Record<string, unknown>).schema_version;
    if (typeof v === "number" || (typeof v === "string" && /^\d+$/.test(v))) return Number(v);
  } catch {
    // Not JSON: validate would not have stored it; nothing to read.
  }
  return text === undefined ? "unknown" : 1;
}

/**
 * Follows one event: its sluice.events row, the RAW message at its raw_seq (headers and bytes
 * while RAW keeps them), the schema version written and stored, the windows it was counted in
 * (its keys' windows whose bounds hold its event time and whose newest version came out after it
 * arrived, less those the window actor said it missed), its
 * late record, anomalies, dead letters (of its raw message, or naming its id) and quality samples.
 */
export async function eventLineage(eventId: string, deps: { rows: LineageRows; raw?: RawReader; references?: ReferenceReader; windows?: WindowConfig }): Promise<EventLineage> {
  const id = quoteString(eventId);
  const config = deps.windows ?? defaultWindowConfig;
  const [row] = await deps.rows(`SELECT source, key, schema_version, event_time, ingest_time, raw_subject, raw_seq, trace_id, payload FROM ${TABLES.events} FINAL WHERE event_id = ${id} LIMIT 1`);
  const [late, anomalies, quality] = await Promise.all([
    deps.rows(`SELECT late_id, reason, watermark, allowed_lateness_ms, window_ids FROM ${WINDOW_TABLES.late_events} FINAL WHERE event_id = ${id} ORDER BY received_at`),
    deps.rows(`SELECT metric, signal, severity, score, expected_low, expected_high, observed, explanation, detected_at FROM ${TABLES.anomalies} FINAL WHERE event_id = ${id} ORDER BY detected_at`),
    deps.rows(`SELECT expectation, minute, sample_reason FROM ${TABLES.dq_results} FINAL WHERE sample_event_id = ${id} ORDER BY minute`),
  ]);
  // A dead letter of this event: of its RAW message, naming its id, or (a RAW message without an
  // id of its own, later replayed) one whose stream and sequence hash to it (subjects/identity.ts).
  const rawSeq = row ? n(row.raw_seq) : undefined;
  const sameSubject = row ? ` OR subject = ${quoteString(s(row.raw_subject))}` : "";
  const candidates = await deps.rows(`SELECT dlq_id, actor, error_code, reason, stream, stream_seq, received_at, headers, payload FROM ${TABLES.dead_letters} FINAL
WHERE position(headers, ${id}) > 0 OR position(payload, ${id}) > 0${sameSubject}
ORDER BY received_at
LIMIT 10000`);
  const deadLetters = candidates.filter((d) => s(d.headers).includes(eventId) || s(d.payload).includes(eventId)
    || (s(d.stream) === STREAMS.RAW.name && (n(d.stream_seq) === rawSeq || sequenceEventId(s(d.stream), n(d.stream_seq)) === eventId)));
  const lateIds = new Set(late.flatMap((l) => (Array.isArray(l.window_ids) ? l.window_ids.map(String) : [])));

  let event: EventLineage["event"];
  let windows: EventLineage["windows"] = [];
  let raw: EventLineage["raw"] = { gone: "no sluice.events row with this id" };
  let schema: EventLineage["schema"];
  let replays = 0;
  let pii: EventLineage["pii"] = [];
  let references: EventLineage["references"] = [];
  if (row) {
    const payload = JSON.parse(s(row.payload) || "{}") as Record<string, unknown>;
    event = {
      source: s(row.source), key: s(row.key), schema_version: n(row.schema_version), event_time: s(row.event_time), ingest_time: s(row.ingest_time),
      raw_subject: s(row.raw_subject), raw_seq: n(row.raw_seq), trace_id: s(row.trace_id), payload,
    };
    pii = (PII_FIELDS[event.source as Source] ?? []).filter((f) => f in payload).map((field) => ({ field, action: protectionSeen(payload[field]) }));
    references = await referencesOf(payload, deps.references);
    const keys = windowKeys(config, event.source, event.key, payload);
    // Whole seconds compare alike on DateTime and DateTime64; window bounds are whole seconds.
    const at = sqlTime(Date.parse(`${event.event_time.replace(" ", "T")}Z`));
    const stored = await deps.rows(`SELECT window_id, kind, key, metric, window_start, window_end, count, version, emitted_at FROM ${TABLES.window_aggregates} FINAL
WHERE source = ${quoteString(event.source)} AND key IN (${keys.map(quoteString).join(", ") || "''"}) AND window_start <= ${at} AND window_end > ${at} AND count > 0
ORDER BY kind, key, metric, window_start`);
    // Counted: its newest version was emitted after the event arrived (a window re-emits what a
    // late event still changed) and the window actor did not name it as one the event missed.
    const arrived = Date.parse(`${event.ingest_time.replace(" ", "T")}Z`);
    windows = stored.filter((w) => !lateIds.has(s(w.window_id)) && Date.parse(`${s(w.emitted_at).replace(" ", "T")}Z`) >= arrived).map((w) => ({
      window_id: s(w.window_id), kind: s(w.kind), key: s(w.key), metric: s(w.metric), window_start: s(w.window_start), window_end: s(w.window_end),
      count: n(w.count), version: n(w.version), definition: definitionOf(config, event!.source, s(w.kind)),
    }));
    const message = (deps.raw ? await deps.raw(event.raw_seq) : null) ?? await fromLake(deps.rows, event.source, event.raw_subject, event.raw_seq) ?? (deps.raw ? undefined : null);
    if (message === null) raw = { gone: "NATS is not reachable and the lake has no copy: the raw message was not read" };
    else if (!message) raw = { gone: `RAW no longer has seq ${event.raw_seq} (it keeps messages SLUICE_RAW_MAX_AGE_HOURS)` };
    else if (message.subject !== event.raw_subject) raw = { gone: `RAW seq ${event.raw_seq} is now ${message.subject}, not ${event.raw_subject}: the stream was recreated` };
    else {
      let text: string | undefined;
      try {
        text = decoder.decode(message.data);
      } catch {
        text = undefined;
      }
      raw = { subject: message.subject, seq: message.seq, stored_at: new Date(message.storedAt).toISOString(), headers: { ...message.headers }, bytes: message.data.length, ...(text === undefined ? { base64: Buffer.from(message.data).toString("base64") } : { text }), from: "lake" in message ? "lake" : "RAW" };
      replays = Number(message.headers[HEADERS.replayCount] ?? 0) || 0;
    }
    const written = "gone" in raw ? "unknown" : statedVersion(raw.headers, raw.text);
    schema = { written, stored: event.schema_version, ...(typeof written === "number" && written < event.schema_version ? { upcast: `v${written} → v${event.schema_version}` } : {}) };
  }
  return {
    event_id: eventId,
    event,
    raw,
    schema,
    replays,
    pii,
    references,
    windows,
    late: late.map((l) => ({ late_id: s(l.late_id), reason: s(l.reason), watermark: s(l.watermark), allowed_lateness_ms: n(l.allowed_lateness_ms), window_ids: Array.isArray(l.window_ids) ? l.window_ids.map(String) : [] })),
    anomalies: anomalies.map((a) => ({ metric: s(a.metric), signal: s(a.signal), severity: s(a.severity), score: n(a.score), expected_low: n(a.expected_low), expected_high: n(a.expected_high), observed: n(a.observed), explanation: JSON.parse(s(a.explanation) || "{}"), detected_at: s(a.detected_at) })),
    dead_letters: deadLetters.map((d) => ({ dlq_id: s(d.dlq_id), actor: s(d.actor), error_code: s(d.error_code), reason: s(d.reason), stream: s(d.stream), stream_seq: n(d.stream_seq), received_at: s(d.received_at) })),
    quality: quality.map((q) => ({ expectation: s(q.expectation), minute: s(q.minute), reason: s(q.sample_reason) })),
  };
}

/** The references an enriched payload names, each with its entry at the revision used when the reader still has it. */
async function referencesOf(payload: Record<string, unknown>, reader: ReferenceReader | undefined): Promise<EventReference[]> {
  const out: EventReference[] = [];
  for (const kind of KIND_NAMES) {
    const { keyField, prefix } = REFERENCE_KINDS[kind];
    const rev = payload[`${prefix}_ref_rev`];
    const missing = payload[`${prefix}_ref_missing`] === true;
    if (rev === undefined && !missing) continue;
    const key = String(payload[keyField] ?? "");
    if (missing || typeof rev !== "number") {
      out.push({ kind, key, missing: true });
      continue;
    }
    if (!reader) {
      out.push({ kind, key, revision: rev, missing: false, gone: "NATS is not reachable: the entry at this revision was not read" });
      continue;
    }
    const at = await reader(kind, key, rev).catch((err: Error) => err);
    if (at instanceof Error) out.push({ kind, key, revision: rev, missing: false, gone: `reading KV failed: ${at.message}` });
    else if (!at) out.push({ kind, key, revision: rev, missing: false, gone: `KV history no longer has revision ${rev} (it keeps the last few per key; sluice ref history ${kind} ${key})` });
    else out.push({ kind, key, revision: rev, missing: false, at });
  }
  return out;
}

/**
 * What the stored value shows was done to a personal field: the rule in force at ingest was the
 * source's current schema version then, which the registry may no longer say.
 */
function protectionSeen(value: unknown): string {
  if (typeof value === "string" && value.startsWith(TOKEN_PREFIX)) return "tokenized (keyed HMAC-SHA-256)";
  if (typeof value === "string" && value.startsWith(CIPHER_PREFIX)) return `encrypted (AES-256-GCM, key ${value.slice(CIPHER_PREFIX.length).split(":")[0]}); sluice pii decrypt <event_id>`;
  if (typeof value === "string" && /^\*+.{0,4}$/.test(value) && value.includes("*")) return "masked (last 4 kept)";
  return "no token, cipher or mask: stored clear, or generalized if its rule said so; kept out of error messages";
}
