// Shared by the forecast service tests on chDB and on clickhouse-server 18.16: window rows of
// several series (some that must not be forecast), a refit, and what it stored and serves.
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { insertRows, migrate, openClickHouse, windowRow, type OpenClickHouse } from "../../clickhouse/index.ts";
import type { Logger } from "../../actors/runtime/actor.ts";
import { createApp } from "../../api/app.ts";
import { clickhouseRows } from "../../api/deps.ts";
import { windowForecasts } from "../../api/forecast.ts";
import { createForecastService } from "../../api/forecast-service.ts";
import { allMetrics } from "../../actors/runtime/metrics.ts";

export const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const MIN = 60_000;

/** `minutes` one-minute windows ending `endsAgo` minutes before NOW; value and count per minute index. */
function series(source: string, key: string, metric: string, minutes: number, endsAgo: number, mean: (i: number) => number, count: (i: number) => number = () => 10, version = 1) {
  return Array.from({ length: minutes }, (_, i) => {
    const start = NOW - (minutes - i + endsAgo) * MIN;
    const n = count(i);
    return {
      window_id: `${source}-${key}-${metric}-${i}`, source, kind: "tumbling" as const, key, metric, window_start: start, window_end: start + MIN,
      count: n, sum: n * mean(i), min: mean(i) - 1, max: mean(i) + 1, mean: mean(i), stddev: 0.5, p50: mean(i), p95: mean(i) + 1, p99: mean(i) + 1,
      version, emitted_at: start + 61_000, distinct_count: null,
    };
  });
}

/** A deterministic wiggle in [-1, 1]. */
const noise = (i: number) => Math.sin(i * 12.9898) * 0.5 + Math.sin(i * 78.233) * 0.5;

export const EXPECTED_SERIES = ["iot:sensor-1:temperature", "iot:sensor-2:humidity", "social:topic=books:posts", "txn:merchant=m-1:amount", "txn:merchant=m-1:amount.count"];

export async function seeded(url?: string): Promise<{ ch: OpenClickHouse; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-forecasts-"));
  const ch = await openClickHouse({ url, dataDir: join(dir, "clickhouse"), logger: { info: () => undefined, warn: () => undefined } });
  await migrate(ch.client, ch.caps);
  const rows = [
    // Forecast: a sensor's hourly cycle, a sensor that stopped 10 minutes ago, a merchant, a topic.
    ...series("iot", "sensor-1", "temperature", 600, 0, (i) => 20 + 3 * Math.sin((2 * Math.PI * i) / 60) + 0.2 * noise(i)),
    ...series("iot", "sensor-2", "humidity", 100, 10, (i) => 50 + noise(i)),
    ...series("txn", "merchant=m-1", "amount", 300, 0, (i) => 40 + 5 * noise(i), (i) => 5 + Math.round(2 * noise(i + 7))),
    ...series("social", "topic=books", "posts", 300, 0, () => 1, (i) => 20 + Math.round(4 * noise(i + 3))),
    // Not forecast: a site group, a customer, a topic's likes, a sensor silent for two days, a deleted sensor.
    ...series("iot", "site=s1", "temperature", 100, 0, () => 20),
    ...series("txn", "cus-1", "amount", 100, 0, () => 40),
    ...series("social", "topic=books", "likes", 100, 0, () => 3),
    ...series("iot", "sensor-old", "temperature", 100, 2 * 1440, (i) => 18 + noise(i)),
    ...series("iot", "sensor-3", "temperature", 50, 0, () => 20),
    ...series("iot", "sensor-3", "temperature", 50, 0, () => 0, () => 0, 2),
  ];
  await insertRows(ch.client, "window_aggregates", rows.map((w) => windowRow(w, "trace-w", ch.caps)));
  return {
    ch,
    async cleanup() {
      await ch.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const quietLog = (debug: string[] = []): Logger => ({ debug: (m) => debug.push(m), info: () => undefined, warn: (m) => debug.push(`warn: ${m}`), error: () => undefined });

/** One refit: the rows in sluice.forecasts and the answers of GET /v1/forecast. */
export async function refitStoresAndServes(ch: OpenClickHouse): Promise<void> {
  const rows = clickhouseRows(() => ch.client);
  const log: string[] = [];
  const service = createForecastService({ rows, client: () => ch.client, caps: ch.caps, refitMs: 60_000, horizon: 30, now: () => NOW, log: quietLog(log) });
  const report = await service.refit();
  assert.is(report.series, EXPECTED_SERIES.length, log.join("\n"));
  assert.is(report.fitted, EXPECTED_SERIES.length);
  assert.is(report.rows, EXPECTED_SERIES.length * 30);
  assert.is(service.size, EXPECTED_SERIES.length);

  const stored = await rows(`SELECT series, count() AS n, min(step) AS first, max(step) AS last, sum(lower <= mean AND mean <= upper AND lower < upper) AS inside,
       min(toUnixTimestamp(target_time)) AS first_target, any(level) AS level, any(model) AS model
FROM sluice.forecasts GROUP BY series ORDER BY series`);
  assert.equal(stored.map((r) => r.series), EXPECTED_SERIES);
  for (const r of stored) {
    assert.is(Number(r.n), 30, String(r.series));
    assert.is(Number(r.first), 1);
    assert.is(Number(r.last), 30);
    assert.is(Number(r.inside), 30, `${r.series}: every point inside a non-empty interval`);
    assert.is(Number(r.level), 0.8);
    assert.ok(typeof JSON.parse(String(r.model)).kind === "string");
  }
  // The step-1 target is one minute after the last window's start.
  const sensor1 = stored.find((r) => r.series === "iot:sensor-1:temperature")!;
  assert.is(Number(sensor1.first_target) * 1000, NOW);
  const sensor2 = stored.find((r) => r.series === "iot:sensor-2:humidity")!;
  assert.is(Number(sensor2.first_target) * 1000, NOW - 10 * MIN);

  const app = createApp({
    rows,
    pingNats: async () => undefined,
    pingClickHouse: async () => undefined,
    metrics: allMetrics,
    forecast: service.provider(windowForecasts(rows, () => NOW)),
    now: () => NOW,
  });
  const get = async (path: string) => {
    const res = await app.request(path);
    return { status: res.status, body: (await res.json()) as any };
  };
  const hot = await get("/v1/forecast/iot:sensor-1:temperature?horizon=12");
  assert.is(hot.status, 200);
  assert.is(hot.body.fitted, "scheduled");
  assert.is(hot.body.made_at, new Date(NOW).toISOString());
  assert.is(hot.body.history_points, 600);
  assert.is(hot.body.points.length, 12);
  hot.body.points.forEach((p: any, k: number) => {
    assert.ok(p.lower < p.upper && p.lower <= p.mean && p.mean <= p.upper, JSON.stringify(p));
    // The hourly cycle continues: step k+1 is minute 600 + k of the sine.
    const truth = 20 + 3 * Math.sin((2 * Math.PI * (600 + k)) / 60);
    assert.ok(Math.abs(p.mean - truth) < 1, `step ${k + 1}: ${p.mean} vs ${truth}`);
  });
  assert.is(hot.body.points[0].timestamp, new Date(NOW).toISOString());
  // Volumes are window counts: posts per minute around 20, payments around 5 (not the mean of 1 or the amount).
  const posts = await get("/v1/forecast/social:topic=books:posts?horizon=5");
  assert.is(posts.body.fitted, "scheduled");
  assert.ok(posts.body.points.every((p: any) => p.mean > 14 && p.mean < 26), JSON.stringify(posts.body.points));
  const volume = await get("/v1/forecast/txn:merchant=m-1:amount.count?horizon=5");
  assert.is(volume.status, 200);
  assert.ok(volume.body.points.every((p: any) => p.mean > 2 && p.mean < 8), JSON.stringify(volume.body.points));
  // Beyond the hot horizon, and for a series not in the hot set, the forecast is fitted on request.
  const longer = await get("/v1/forecast/iot:sensor-1:temperature?horizon=40");
  assert.is(longer.body.fitted, "request");
  assert.is(longer.body.points.length, 40);
  const old = await get("/v1/forecast/iot:sensor-old:temperature?horizon=3");
  assert.is(old.status, 200);
  assert.is(old.body.fitted, "request");
  assert.is((await get("/v1/forecast/iot:sensor-3:temperature")).status, 404);
}
