import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { OpenClickHouse } from "../../clickhouse/index.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { NOW, RECENT_WINDOWS, TRACE, TUMBLING_HISTORY, appOver, seededClickHouse, storedRows, windowState } from "./fixtures.ts";

const test = suite<{ server: ClickHouseServer; ch: OpenClickHouse; cleanup: () => Promise<void> }>("api on clickhouse-server 18.16");

test.before(async (ctx) => {
  ctx.server = await ClickHouseServer.start();
  const seeded = await seededClickHouse(ctx.server.url);
  ctx.ch = seeded.ch;
  ctx.cleanup = seeded.cleanup;
});
test.after(async (ctx) => {
  await ctx.cleanup?.();
  await ctx.server?.stop();
});

test("anomalies, windows and forecasts read the same on a server without DateTime64 or query parameters", async ({ ch }) => {
  const stored = await storedRows(ch);
  assert.equal(stored.anomalies, { stored: 12, final: 6, parts: 2 }, "a redelivered batch of anomalies is stored twice");
  assert.equal(stored.window_aggregates, { stored: 80, final: 33, parts: 3 }, "stale versions and deletions are stored");
  const app = appOver(ch);
  const all = (await (await app.request("/v1/anomalies?since=1h")).json()) as any;
  assert.is(all.count, 6, "a redelivered anomaly counts once");
  const anomalies = (await (await app.request(`/v1/anomalies?source=iot&since=${NOW - 3.5 * 60_000}&min_score=0.5`)).json()) as any;
  assert.equal(anomalies.anomalies.map((a: any) => a.event_id), ["evt-0", "evt-1", "evt-2"]);
  assert.is(anomalies.anomalies[0].trace_id, TRACE);
  assert.is(anomalies.anomalies[0].event_time, new Date(NOW - 60_000).toISOString());
  const quoted = await app.request("/v1/anomalies?key=sensor-1'--");
  assert.is(quoted.status, 400);
  const windows = (await (await app.request("/v1/windows?source=iot&key=sensor-1&since=10m")).json()) as any;
  assert.equal(windows.windows.map(windowState), RECENT_WINDOWS, "newest versions, deleted sessions left out");
  assert.is(windows.count, RECENT_WINDOWS.length);
  const forecast = await app.request("/v1/forecast/iot:sensor-1:temperature?horizon=3");
  assert.is(forecast.status, 200);
  const fitted = (await forecast.json()) as any;
  assert.is(fitted.points.length, 3);
  assert.is(fitted.history_points, TUMBLING_HISTORY);
  assert.ok(fitted.points[0].mean > 45, `fitted on the newest, rising versions: ${fitted.points[0].mean}`);
  assert.is((await app.request("/readyz")).status, 200);
});

test.run();
