import { REFERENCE_KINDS } from "../enrich/kinds.ts";
import type { EventLineage } from "./event.ts";
import type { WindowLineage } from "./window.ts";

const indent = (lines: string[]) => lines.map((l) => `  ${l}`);
const none = (what: string) => [`  (no ${what})`];

/** `sluice lineage event` as a person reads it: one section per hop, the raw message first. */
export function formatEventLineage(l: EventLineage): string {
  if (!l.event) return `event ${l.event_id}: not in sluice.events (never validated, dead-lettered before, or past retention)\n${formatDeadLetters(l).join("\n")}`;
  const e = l.event;
  const raw = "gone" in l.raw
    ? [`  ${l.raw.gone}`]
    : indent([
      `subject ${l.raw.subject}  seq ${l.raw.seq}  stored ${l.raw.stored_at}  ${l.raw.bytes} bytes  (read from ${l.raw.from})`,
      ...Object.entries(l.raw.headers).map(([k, v]) => `header ${k}: ${v}`),
      l.raw.text !== undefined ? `body ${l.raw.text}` : `body (base64) ${l.raw.base64}`,
    ]);
  return [
    `event ${l.event_id}`,
    `  source ${e.source}  key ${e.key}  event time ${e.event_time}  ingested ${e.ingest_time}`,
    `  trace ${e.trace_id}`,
    `  schema written v${l.schema?.written ?? "?"}, stored v${e.schema_version}${l.schema?.upcast ? `, upcast ${l.schema.upcast}` : ", no upcast"}`,
    `  replays ${l.replays}`,
    `  PII ${l.pii.length ? l.pii.map((p) => `${p.field} (${p.action})`).join(", ") : "none in the payload"}`,
    "enriched with",
    ...(l.references.length ? l.references.map(formatReference) : ["  (no reference data)"]),
    "raw message",
    ...raw,
    "stored as (sluice.events)",
    `  payload ${JSON.stringify(e.payload)}`,
    "late",
    ...(l.late.length ? l.late.map((x) => `  ${x.reason}: watermark ${x.watermark}, allowed lateness ${x.allowed_lateness_ms} ms; not counted in ${x.window_ids.join(", ") || "(no window)"}`) : ["  (on time)"]),
    "counted in windows",
    ...(l.windows.length ? l.windows.map((w) => `  ${w.window_id}  ${w.kind} ${w.key} ${w.metric} [${w.window_start}, ${w.window_end})  count ${w.count}  v${w.version}  ${JSON.stringify(w.definition ?? {})}`) : none("window")),
    "anomalies",
    ...(l.anomalies.length ? l.anomalies.map((a) => `  ${a.severity} ${a.metric} ${a.signal} score ${a.score.toFixed(2)}: observed ${a.observed}, expected ${a.expected_low} – ${a.expected_high}; ${JSON.stringify(a.explanation)}`) : none("anomaly")),
    ...formatDeadLetters(l),
    "data quality samples",
    ...(l.quality.length ? l.quality.map((q) => `  ${q.expectation} at ${q.minute}: ${q.reason}`) : none("quality sample")),
  ].join("\n");
}

function formatReference(r: EventLineage["references"][number]): string {
  if (r.missing) return `  ${r.kind} ${r.key}: missing (no entry when the event was enriched; flagged ${REFERENCE_KINDS[r.kind].prefix}_ref_missing)`;
  const at = r.at ? `${r.at.operation === "PUT" ? JSON.stringify(r.at.value ?? {}) : r.at.operation} (written ${r.at.created})` : r.gone;
  return `  ${r.kind} ${r.key}: revision ${r.revision}: ${at}`;
}

function formatDeadLetters(l: EventLineage): string[] {
  return ["dead letters", ...(l.dead_letters.length ? l.dead_letters.map((d) => `  ${d.dlq_id}  ${d.actor} ${d.error_code} at ${d.received_at}: ${d.reason}`) : none("dead letter"))];
}

/** `sluice lineage window`: its definition, versions and inputs. */
export function formatWindowLineage(l: WindowLineage): string {
  if (!l.window) return `window ${l.window_id}: not in sluice.window_aggregates`;
  const w = l.window;
  const newest = l.versions[l.versions.length - 1];
  return [
    `window ${l.window_id}`,
    `  ${w.source} ${w.kind} key ${w.key} metric ${w.metric} [${w.window_start}, ${w.window_end})`,
    "definition",
    `  window ${JSON.stringify(l.definition?.window ?? {})}`,
    `  group ${JSON.stringify(l.definition?.group ?? {})}  metric ${JSON.stringify(l.definition?.metric ?? {})}`,
    `  out of orderness ${l.definition?.out_of_orderness_ms} ms, allowed lateness ${l.definition?.allowed_lateness_ms} ms`,
    "versions",
    ...l.versions.map((v) => `  v${v.version}  count ${v.count}  mean ${v.mean}  min ${v.min}  max ${v.max}  p95 ${v.p95}  emitted ${v.emitted_at}`),
    `inputs: ${l.input_count} events in sluice.events${newest ? ` (the window's count: ${newest.count})` : ""}`,
    ...l.inputs.map((e) => `  ${e.event_id}  ${e.event_time}  ${JSON.stringify(e.value)}  trace ${e.trace_id}`),
    ...(l.input_count > l.inputs.length ? [`  … ${l.input_count - l.inputs.length} more (--limit)`] : []),
    "too late, not counted",
    ...(l.late.length ? l.late.map((x) => `  ${x.event_id}  ${x.event_time}  watermark ${x.watermark}  ${x.reason}`) : none("late event")),
  ].join("\n");
}
