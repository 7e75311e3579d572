import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { OpenClickHouse } from "../../clickhouse/index.ts";
import { clickhouseRows } from "../../api/deps.ts";
import { createForecastService } from "../../api/forecast-service.ts";
import { loadConfig, ConfigError } from "../../config/index.ts";
import { NOW, quietLog, refitStoresAndServes, seeded } from "./forecast-service.ts";

const test = suite<{ ch: OpenClickHouse; cleanup: () => Promise<void> }>("forecast service on chDB");

test.before(async (ctx) => {
  const s = await seeded();
  ctx.ch = s.ch;
  ctx.cleanup = s.cleanup;
});
test.after(async (ctx) => ctx.cleanup?.());

test("a refit writes forecasts with intervals to sluice.forecasts and /v1/forecast serves them hot", async ({ ch }) => {
  await refitStoresAndServes(ch);
});

test("the hot set keeps only the most recently active series up to the cap", async ({ ch }) => {
  const rows = clickhouseRows(() => ch.client);
  const service = createForecastService({ rows, client: () => ch.client, caps: ch.caps, refitMs: 60_000, horizon: 5, maxSeries: 2, now: () => NOW, log: quietLog() });
  const report = await service.refit();
  assert.is(report.series, 2);
  assert.is(service.size, 2);
  assert.ok(service.get({ source: "iot", key: "sensor-1", metric: "temperature" }));
  // sensor-2 stopped 10 minutes ago: the least recent of the active series goes first.
  assert.not.ok(service.get({ source: "iot", key: "sensor-2", metric: "humidity" }));
});

test("start() refits on the schedule until stop()", async ({ ch }) => {
  const rows = clickhouseRows(() => ch.client);
  const log: string[] = [];
  let clock = NOW;
  const service = createForecastService({ rows, client: () => ch.client, caps: ch.caps, refitMs: 100, horizon: 5, now: () => (clock += 1), log: quietLog(log) });
  service.start();
  const deadline = Date.now() + 20_000;
  while (log.filter((l) => l.includes("refitted")).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await service.stop();
  const runs = log.filter((l) => l.includes("refitted")).length;
  assert.ok(runs >= 2, log.join("\n"));
  assert.is(service.size, 5);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(log.filter((l) => l.includes("refitted")).length, runs, "no refit after stop()");
});

test("SLUICE_FORECAST_REFIT_MS defaults to 5 minutes and is validated", () => {
  assert.is(loadConfig({}).forecastRefitMs, 300_000);
  assert.is(loadConfig({ SLUICE_FORECAST_REFIT_MS: "60000" }).forecastRefitMs, 60_000);
  assert.throws(() => loadConfig({ SLUICE_FORECAST_REFIT_MS: "5m" }), (e: Error) => e instanceof ConfigError && /SLUICE_FORECAST_REFIT_MS/.test(e.message));
  assert.throws(() => loadConfig({ SLUICE_FORECAST_REFIT_MS: "10" }), (e: Error) => e instanceof ConfigError);
});

test.run();
