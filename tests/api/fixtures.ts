// Shared by the API tests: a migrated ClickHouse with a few anomalies and windows, and the app over it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { anomalyRow, insertRows, migrate, openClickHouse, windowRow, type OpenClickHouse } from "../../clickhouse/index.ts";
import type { AnomalyRecord } from "../../clickhouse/rows-detect.ts";
import { createApp, type ApiDeps } from "../../api/app.ts";
import { clickhouseRows } from "../../api/deps.ts";
import { windowForecasts } from "../../api/forecast.ts";
import { allMetrics } from "../../actors/runtime/metrics.ts";

export const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
export const TRACE = "0af7651916cd43dd8448eb211c80319c";

export function anomaly(i: number, over: Partial<AnomalyRecord> = {}): AnomalyRecord {
  return {
    event_id: `evt-${i}`, source: "iot", key: "sensor-1", metric: "temperature", score: 0.5 + i / 100, severity: "medium",
    signal: "novel-pattern/1", explanation: { context: "level", n: i }, expected_low: 18, expected_high: 23, observed: 30 + i,
    event_time: NOW - 60_000 * (i + 1), detected_at: NOW - 60_000 * (i + 1) + 150, ...over,
  };
}

/** 30 one-minute windows of sensor-1 temperature ending at NOW, a gentle ramp. */
export function windows(caps: OpenClickHouse["caps"]) {
  return Array.from({ length: 30 }, (_, i) => {
    const start = NOW - (30 - i) * 60_000;
    return windowRow({
      window_id: `w-${i}`, source: "iot", kind: "tumbling", key: "sensor-1", metric: "temperature", window_start: start, window_end: start + 60_000,
      count: 10, sum: 200 + i * 10, min: 19, max: 22 + i, mean: 20 + i, stddev: 0.5, p50: 20, p95: 21, p99: 22, version: 1, emitted_at: start + 61_000, distinct_count: null,
    }, "trace-w", caps);
  });
}

export async function seededClickHouse(url?: string): Promise<{ ch: OpenClickHouse; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-api-"));
  const ch = await openClickHouse({ url, dataDir: join(dir, "clickhouse"), logger: { info: () => undefined, warn: () => undefined } });
  await migrate(ch.client, ch.caps);
  await insertRows(ch.client, "anomalies", [
    ...Array.from({ length: 5 }, (_, i) => anomalyRow(anomaly(i), TRACE, ch.caps)),
    anomalyRow(anomaly(9, { source: "txn", key: "cus-1", metric: "amount", score: 0.95, severity: "high" }), TRACE, ch.caps),
  ]);
  await insertRows(ch.client, "window_aggregates", windows(ch.caps));
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
