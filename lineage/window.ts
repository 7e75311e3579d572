import { TABLES, WINDOW_TABLES } from "../clickhouse/schema.ts";
import { quoteString } from "../clickhouse/query.ts";
import { sqlTime } from "../clickhouse/queries.ts";
import { defaultWindowConfig } from "../windowing/config.ts";
import type { GroupSpec, MetricSpec, SourceWindowConfig, WindowConfig, WindowSpec } from "../windowing/types.ts";
import type { LineageRows } from "./event.ts";

/** A window's definition, every version stored, and the events it was computed from. */
export interface WindowLineage {
  readonly window_id: string;
  readonly window?: { source: string; kind: string; key: string; metric: string; window_start: string; window_end: string };
  readonly definition?: { window: WindowSpec | undefined; group: GroupSpec | undefined; metric: MetricSpec | undefined; out_of_orderness_ms: number; allowed_lateness_ms: number };
  /** Oldest first; the highest version is the window's value (count 0: retracted). */
  readonly versions: ReadonlyArray<{ version: number; count: number; mean: number; min: number; max: number; p95: number; emitted_at: string }>;
  /** Events of the window's key, metric and bounds, as sluice.events has them (newest first, at most `limit`). */
  readonly inputs: ReadonlyArray<{ event_id: string; event_time: string; value: unknown; trace_id: string }>;
  readonly input_count: number;
  /** Events that arrived after the window closed: not counted in it. */
  readonly late: ReadonlyArray<{ event_id: string; event_time: string; watermark: string; reason: string }>;
}

const s = (v: unknown) => String(v ?? "");
const n = (v: unknown) => Number(v);
const ms = (text: string) => Date.parse(`${text.replace(" ", "T")}Z`);

/** The group a window key belongs to: `<name>=<value>` for a payload-field group, else the entity key. */
function groupOf(source: SourceWindowConfig | undefined, key: string): { group: GroupSpec | undefined; value: string } {
  const eq = key.indexOf("=");
  const named = eq > 0 ? source?.groups.find((g) => g.field !== undefined && g.name === key.slice(0, eq)) : undefined;
  if (named) return { group: named, value: key.slice(eq + 1) };
  return { group: source?.groups.find((g) => g.field === undefined), value: key };
}

/**
 * Follows one window back: its stored versions, the config that made it, and its input events
 * (its key's events in its bounds that carry its metric), less those that came too late for it.
 */
export async function windowLineage(windowId: string, deps: { rows: LineageRows; windows?: WindowConfig; limit?: number }): Promise<WindowLineage> {
  const id = quoteString(windowId);
  const config = deps.windows ?? defaultWindowConfig;
  const stored = await deps.rows(`SELECT DISTINCT source, kind, key, metric, window_start, window_end, version, count, mean, min, max, p95, emitted_at
FROM ${TABLES.window_aggregates}
WHERE window_id = ${id}
ORDER BY version`);
  if (stored.length === 0) return { window_id: windowId, versions: [], inputs: [], input_count: 0, late: [] };
  const first = stored[0];
  const window = { source: s(first.source), kind: s(first.kind), key: s(first.key), metric: s(first.metric), window_start: s(first.window_start), window_end: s(first.window_end) };
  const source = config.sources[window.source as keyof WindowConfig["sources"]];
  const { group, value } = groupOf(source, window.key);
  const metric = source?.metrics.find((m) => m.name === window.metric);
  const where = [
    `source = ${quoteString(window.source)}`,
    `event_time >= ${sqlTime(ms(window.window_start))}`,
    `event_time < ${sqlTime(ms(window.window_end))}`,
    group?.field === undefined ? `key = ${quoteString(value)}` : `visitParamExtractRaw(payload, ${quoteString(group.field)}) IN (${quoteString(JSON.stringify(value))}, ${quoteString(value)})`,
    ...(metric?.field ? [`visitParamHas(payload, ${quoteString(metric.field)})`] : []),
  ];
  // What arrived after the newest version came out is not in it (a late event the actor could not fold).
  const emitted = Math.max(...stored.map((v) => ms(s(v.emitted_at))));
  where.push(`ingest_time <= ${sqlTime(emitted + 1_000)}`);
  const late = await deps.rows(`SELECT event_id, event_time, watermark, reason FROM ${WINDOW_TABLES.late_events} FINAL WHERE has(window_ids, ${id}) ORDER BY event_time`);
  const lateIds = late.map((l) => quoteString(s(l.event_id)));
  if (lateIds.length) where.push(`event_id NOT IN (${lateIds.join(", ")})`);
  const field = metric?.field ? `visitParamExtractRaw(payload, ${quoteString(metric.field)})` : "''";
  const [inputs, [total]] = await Promise.all([
    deps.rows(`SELECT event_id, event_time, ${field} AS value, trace_id FROM ${TABLES.events} FINAL WHERE ${where.join(" AND ")} ORDER BY event_time DESC LIMIT ${deps.limit ?? 100}`),
    deps.rows(`SELECT count() AS n FROM ${TABLES.events} FINAL WHERE ${where.join(" AND ")}`),
  ]);
  const spec = source?.windows.find((w) => w.kind === window.kind);
  return {
    window_id: windowId,
    window,
    definition: { window: spec, group, metric, out_of_orderness_ms: source?.outOfOrdernessMs ?? 0, allowed_lateness_ms: source?.allowedLatenessMs ?? 0 },
    versions: stored.map((v) => ({ version: n(v.version), count: n(v.count), mean: n(v.mean), min: n(v.min), max: n(v.max), p95: n(v.p95), emitted_at: s(v.emitted_at) })),
    inputs: inputs.map((e) => ({ event_id: s(e.event_id), event_time: s(e.event_time), value: e.value === "" ? undefined : JSON.parse(s(e.value)), trace_id: s(e.trace_id) })),
    input_count: n(total?.n),
    late: late.map((l) => ({ event_id: s(l.event_id), event_time: s(l.event_time), watermark: s(l.watermark), reason: s(l.reason) })),
  };
}
