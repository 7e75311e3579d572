// Shared by the API tests: a migrated ClickHouse holding anomalies and windows the way the sinks
// leave them (stale versions, deletions, redelivered duplicates, each insert its own part), and the app over it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { anomalyRow, insertRows, migrate, openClickHouse, runQuery, windowRow, type OpenClickHouse, type WindowRow } from "../../clickhouse/index.ts";
import type { AnomalyRecord } from "../../clickhouse/rows-detect.ts";
import { createApp, type ApiDeps } from "../../api/app.ts";
import { clickhouseRows } from "../../api/deps.ts";
import { windowForecasts } from "../../api/forecast.ts";
import { allMetrics } from "../../actors/runtime/metrics.ts";

export const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
export const TRACE = "0af7651916cd43dd8448eb211c80319c";
const MINUTE = 60_000;

export function anomaly(i: number, over: Partial<AnomalyRecord> = {}): AnomalyRecord {
  return {
    event_id: `evt-${i}`, source: "iot", key: "sensor-1", metric: "temperature", score: 0.5 + i / 100, severity: "medium",
    signal: "novel-pattern/1", explanation: { context: "level", n: i }, expected_low: 18, expected_high: 23, observed: 30 + i,
    event_time: NOW - MINUTE * (i + 1), detected_at: NOW - MINUTE * (i + 1) + 150, ...over,
  };
}

const ANOMALIES = [
  ...Array.from({ length: 5 }, (_, i) => anomaly(i)),
  anomaly(9, { source: "txn", key: "cus-1", metric: "amount", score: 0.95, severity: "high" }),
];

function sensorWindow(over: Pick<WindowRow, "window_id" | "kind" | "window_start" | "window_end" | "count" | "mean" | "version">): WindowRow {
  return {
    source: "iot", key: "sensor-1", metric: "temperature", sum: over.count * over.mean, min: 19, max: over.mean + 2, stddev: 0.5,
    p50: over.mean, p95: over.mean + 1, p99: over.mean + 2, emitted_at: over.window_end + 1_000, distinct_count: null, ...over,
  };
}

/** The window actor's deletion of a row: same sorting key, a newer version, count 0 (actors/window/outputs.ts). */
const deletion = (row: WindowRow, version: number): WindowRow => ({ ...row, version, count: 0, sum: 0, min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p95: 0, p99: 0 });

/**
 * 30 one-minute windows of sensor-1 temperature ending at NOW, a rising ramp (mean 20 … 49) in
 * their newest version 2. Version 1 of each was a falling ramp from a few events, so reading
 * without FINAL (or keeping the last insert instead of the highest version) changes every answer.
 */
const tumbling = (i: number, version: 1 | 2): WindowRow => {
  const start = NOW - (30 - i) * MINUTE;
  return sensorWindow({ window_id: `w-${i}`, kind: "tumbling", window_start: start, window_end: start + MINUTE, version, ...(version === 2 ? { count: 10, mean: 20 + i } : { count: 3, mean: 90 - i }) });
};
const TUMBLING_NEWEST = Array.from({ length: 30 }, (_, i) => tumbling(i, 2));
const TUMBLING_STALE = Array.from({ length: 30 }, (_, i) => tumbling(i, 1));

/**
 * Two sessions of sensor-1 that a late event merged: session a [−9.5 min, −7.5 min) grew to
 * [−9.5 min, −5.5 min) in version 2, which deletes its old bounds; session b [−6.5 min, −5.5 min)
 * was merged away, so its version 2 is a deletion. Only session a's version 2 is left.
 */
const SESSION_A_V1 = sensorWindow({ window_id: "session-a", kind: "session", window_start: NOW - 9.5 * MINUTE, window_end: NOW - 7.5 * MINUTE, count: 4, mean: 30, version: 1 });
const SESSION_A_V2 = sensorWindow({ ...SESSION_A_V1, window_end: NOW - 5.5 * MINUTE, count: 8, mean: 31, version: 2 });
const SESSION_B_V1 = sensorWindow({ window_id: "session-b", kind: "session", window_start: NOW - 6.5 * MINUTE, window_end: NOW - 5.5 * MINUTE, count: 3, mean: 33, version: 1 });

/** Each entry is one INSERT, as the sinks would have sent them over time. */
const WINDOW_INSERTS: WindowRow[][] = [
  [...TUMBLING_STALE, SESSION_A_V1, SESSION_B_V1],
  [...TUMBLING_NEWEST, SESSION_A_V2, deletion(SESSION_A_V1, 2), deletion(SESSION_B_V1, 2)],
  // Version 1 of every other window redelivered after version 2: the version decides, not arrival.
  TUMBLING_STALE.filter((_, i) => i % 2 === 0),
];

/** `/v1/windows?source=iot&key=sensor-1&since=10m` over the fixture: newest versions only, no deletions, newest first. */
export const RECENT_WINDOWS = [...TUMBLING_NEWEST.slice(20), SESSION_A_V2]
  .sort((a, b) => b.window_start - a.window_start)
  .map((w) => ({ kind: w.kind, window_start: new Date(w.window_start).toISOString(), window_end: new Date(w.window_end).toISOString(), count: w.count, mean: w.mean, version: w.version }));
/** A `/v1/windows` entry in the form of {@link RECENT_WINDOWS}: the columns the fixture varies. */
export const windowState = (w: Record<string, unknown>) => ({ kind: w.kind, window_start: w.window_start, window_end: w.window_end, count: w.count, mean: w.mean, version: w.version });
/** Tumbling windows a forecast of iot:sensor-1:temperature is fitted on. */
export const TUMBLING_HISTORY = TUMBLING_NEWEST.length;

/** Rows as stored and as FINAL reads them: the fixture only tests FINAL if these differ. */
export async function storedRows(ch: OpenClickHouse): Promise<Record<"anomalies" | "window_aggregates", { stored: number; final: number; parts: number }>> {
  const one = async (sql: string) => Number((await runQuery(ch.client, sql, "json")).rows[0][0]);
  const table = async (name: string) => ({
    stored: await one(`SELECT count() FROM sluice.${name}`),
    final: await one(`SELECT count() FROM sluice.${name} FINAL`),
    parts: await one(`SELECT count() FROM system.parts WHERE database = 'sluice' AND table = '${name}' AND active`),
  });
  return { anomalies: await table("anomalies"), window_aggregates: await table("window_aggregates") };
}

export async function seededClickHouse(url?: string): Promise<{ ch: OpenClickHouse; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-api-"));
  const ch = await openClickHouse({ url, dataDir: join(dir, "clickhouse"), logger: { info: () => undefined, warn: () => undefined } });
  await migrate(ch.client, ch.caps);
  // A background merge would collapse versions and duplicates before the API reads them, and a
  // read without FINAL would then pass by luck; with merges stopped only FINAL can collapse them.
  for (const table of ["anomalies", "window_aggregates"]) await runQuery(ch.client, `SYSTEM STOP MERGES sluice.${table}`, "json");
  // The anomalies sink redelivered its batch: the same rows (same sorting key) in a second insert.
  for (let delivery = 0; delivery < 2; delivery++) await insertRows(ch.client, "anomalies", ANOMALIES.map((a) => anomalyRow(a, TRACE, ch.caps)));
  for (const rows of WINDOW_INSERTS) await insertRows(ch.client, "window_aggregates", rows.map((w) => windowRow(w, "trace-w", ch.caps)));
  return {
    ch,
    async cleanup() {
      await ch.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function appOver(ch: OpenClickHouse, over: Partial<ApiDeps> = {}) {
  const rows = clickhouseRows(() => ch.client);
  return createApp({
    rows,
    pingNats: async () => undefined,
    pingClickHouse: async () => {
      await rows("SELECT 1");
    },
    metrics: allMetrics,
    forecast: windowForecasts(rows),
    now: () => NOW,
    ...over,
  });
}
