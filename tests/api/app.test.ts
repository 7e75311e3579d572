import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { metricsFor } from "../../actors/runtime/metrics.ts";
import { natsPing } from "../../api/deps.ts";
import { openApiDocument } from "../../api/openapi.ts";
import { serveApi } from "../../api/serve.ts";
import type { OpenClickHouse } from "../../clickhouse/index.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { NOW, RECENT_WINDOWS, TRACE, TUMBLING_HISTORY, appOver, seededClickHouse, storedRows, windowState } from "./fixtures.ts";

const test = suite<{ ch: OpenClickHouse; cleanup: () => Promise<void> }>("api on chDB");

test.before(async (ctx) => {
  const seeded = await seededClickHouse();
  ctx.ch = seeded.ch;
  ctx.cleanup = seeded.cleanup;
});
test.after(async (ctx) => ctx.cleanup?.());

const get = async (app: ReturnType<typeof appOver>, path: string) => {
  const res = await app.request(path);
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: res.headers.get("content-type")?.includes("json") ? await res.json() as any : await res.text() };
};

test("the fixture stores stale versions, deletions and redelivered duplicates in separate parts", async ({ ch }) => {
  const stored = await storedRows(ch);
  assert.equal(stored.anomalies, { stored: 12, final: 6, parts: 2 });
  assert.equal(stored.window_aggregates, { stored: 80, final: 33, parts: 3 });
});

test("GET /v1/anomalies filters by source, since and min_score, newest first, with trace ids; a redelivered anomaly counts once", async ({ ch }) => {
  const app = appOver(ch);
  const all = await get(app, "/v1/anomalies?since=1h");
  assert.is(all.status, 200);
  assert.is(all.body.count, 6);
  assert.equal(all.body.anomalies.map((a: any) => a.event_id), ["evt-0", "evt-1", "evt-2", "evt-3", "evt-4", "evt-9"]);
  const iot = await get(app, `/v1/anomalies?source=iot&since=${new Date(NOW - 3.5 * 60_000).toISOString()}`);
  assert.equal(iot.body.anomalies.map((a: any) => a.event_id), ["evt-0", "evt-1", "evt-2"]);
  const first = iot.body.anomalies[0];
  assert.is(first.trace_id, TRACE);
  assert.is(first.event_time, new Date(NOW - 60_000).toISOString());
  assert.equal(first.expected, { low: 18, high: 23 });
  assert.equal(first.explanation, { context: "level", n: 0 });
  const high = await get(app, "/v1/anomalies?since=1h&min_score=0.9");
  assert.equal(high.body.anomalies.map((a: any) => a.key), ["cus-1"]);
});

test("bad query parameters are 400 with the field and a hint, and never reach SQL", async ({ ch }) => {
  const app = appOver(ch);
  const cases: Array<[string, string]> = [
    ["/v1/anomalies?source=weather", "source"],
    ["/v1/anomalies?key=x'%20OR%201%3D1%20--", "key"],
    ["/v1/anomalies?min_score=2", "min_score"],
    ["/v1/anomalies?since=yesterday", "since"],
    ["/v1/anomalies?limit=0", "limit"],
    ["/v1/windows?key=sensor-1", "source"],
    ["/v1/forecast/iot:sensor-1?horizon=3", "series"],
    ["/v1/forecast/iot:sensor-1:temperature?horizon=5000", "horizon"],
  ];
  for (const [path, field] of cases) {
    const res = await get(app, path);
    assert.is(res.status, 400, path);
    assert.is(res.body.error.field, field, path);
    assert.ok(res.body.error.hint.length > 0, path);
  }
  const unknown = await get(app, "/v2/nothing");
  assert.is(unknown.status, 404);
  assert.is(unknown.body.error.field, "path");
});

test("a failing dependency is a 500 without a stack trace", async ({ ch }) => {
  const app = appOver(ch, { rows: async () => { throw new Error("secret internals at /srv/x.ts:1:2"); } });
  const res = await app.request("/v1/anomalies");
  assert.is(res.status, 500);
  const text = await res.text();
  assert.not.match(text, /secret|\.ts:|at /);
  assert.is(JSON.parse(text).error.message, "internal error");
});

test("GET /v1/windows answers each window's newest version for one key, without deleted sessions", async ({ ch }) => {
  const res = await get(appOver(ch), "/v1/windows?source=iot&key=sensor-1&since=10m");
  assert.is(res.status, 200);
  assert.equal(res.body.windows.map(windowState), RECENT_WINDOWS);
  assert.is(res.body.count, RECENT_WINDOWS.length);
  assert.is(res.body.windows[0].window_start, new Date(NOW - 60_000).toISOString());
  assert.is(res.body.windows[0].mean, 49);
});

test("GET /v1/forecast answers with intervals from window history; 404 without history, 503 without a forecaster", async ({ ch }) => {
  const res = await get(appOver(ch), "/v1/forecast/iot:sensor-1:temperature?horizon=5");
  assert.is(res.status, 200);
  assert.is(res.body.points.length, 5);
  assert.is(res.body.history_points, TUMBLING_HISTORY, "one point per window: its newest version, sessions left out");
  for (const p of res.body.points) assert.ok(p.lower <= p.mean && p.mean <= p.upper, JSON.stringify(p));
  assert.ok(res.body.points[0].mean > 45, `a rising series forecasts upward: ${res.body.points[0].mean}`);
  assert.is((await get(appOver(ch), "/v1/forecast/iot:nobody:temperature")).status, 404);
  const none = await get(appOver(ch, { forecast: undefined }), "/v1/forecast/iot:sensor-1:temperature");
  assert.is(none.status, 503);
  assert.match(none.body.error.message, /forecasting is not available/);
});

test("POST /v1/predict scores a batch, keeps state per series, and flags a spike", async ({ ch }) => {
  const app = appOver(ch);
  const t0 = Date.UTC(2026, 0, 1);
  const points = Array.from({ length: 400 }, (_, i) => ({ timestamp: t0 + i * 60_000, value: 20 + Math.sin(i / 10) + ((i * 7919) % 13) / 50 }));
  const post = (body: unknown, type = "application/json") => app.request("/v1/predict", { method: "POST", headers: { "content-type": type }, body: JSON.stringify(body) });
  const first = await post({ series: "s1", points });
  assert.is(first.status, 200);
  const scored = (await first.json()) as any;
  assert.is(scored.points.length, 400);
  assert.ok(scored.points.slice(200).every((p: any) => p.score < 0.5), "no alarm on the regular series");
  const spike = (await (await post({ series: "s1", timestamp: new Date(t0 + 400 * 60_000).toISOString(), value: 60 })).json()) as any;
  assert.ok(spike.points[0].score > 0.5, `spike scored ${spike.points[0].score}`);
  assert.is(spike.points[0].explanation.observed, 60);

  const bad = await post({ series: "s1", points: [{ timestamp: t0, value: 1 }, { timestamp: t0, value: "x" }] });
  assert.is(bad.status, 400);
  assert.is(((await bad.json()) as any).error.field, "points[1].value");
  assert.is((await post({ points: [] })).status, 400);
  assert.is((await post({ series: "bad name!", timestamp: t0, value: 1 })).status, 400);
  assert.is((await post({ series: "s1", timestamp: t0, value: 1 }, "text/plain")).status, 415);
  const notJson = await app.request("/v1/predict", { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
  assert.is(notJson.status, 400);
  assert.is(((await notJson.json()) as any).error.field, "body");
});

test("GET /metrics is Prometheus text with per-actor counters and consumer lag", async ({ ch }) => {
  const m = metricsFor("detect");
  m.received += 3;
  m.deadLettered += 1;
  const app = appOver(ch, { lag: async () => [{ consumer: "detect", stream: "EVENTS", pending: 42, ackPending: 7 }] });
  const res = await app.request("/metrics");
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /^sluice_actor_received_total\{actor="detect"\} 3$/m);
  assert.match(text, /^sluice_actor_dead_lettered_total\{actor="detect"\} 1$/m);
  assert.match(text, /^sluice_consumer_pending\{consumer="detect",stream="EVENTS"\} 42$/m);
  assert.match(text, /^sluice_actor_stuck\{actor="detect"\} 0$/m);
  assert.match(text, /^sluice_event_loop_stalls_total \d+$/m);
  for (const line of text.trim().split("\n")) {
    assert.ok(/^# (HELP|TYPE) \w+ .+$/.test(line) || /^\w+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[\d.e+-]+$/.test(line), `not exposition format: ${line}`);
  }
});

test("GET /openapi.json is OpenAPI 3.1 and documents every route", async ({ ch }) => {
  const app = appOver(ch);
  const doc = (await get(app, "/openapi.json")).body;
  assert.is(doc.openapi, "3.1.0");
  const documented = new Set(Object.entries(doc.paths as Record<string, object>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
  const routes = app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
  assert.is(routes.length, 23, `routes: ${routes.join(", ")}`);
  for (const r of routes) assert.ok(documented.has(r), `${r} is not in /openapi.json`);
  assert.equal(openApiDocument(), doc);
});

test("GET /readyz says which dependency is down", async ({ ch }) => {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  try {
    const app = appOver(ch, { pingNats: natsPing(nc) });
    const up = await get(app, "/readyz");
    assert.is(up.status, 200);
    assert.equal(up.body, { ready: true, checks: { nats: { ok: true }, clickhouse: { ok: true }, actors: { ok: true } } });
    // The runtime's verdict (otel/metrics.ts judgeStuck): readyz names the actor and what it holds.
    const wedged = Object.assign(metricsFor("validate-wedged"), { pending: 12, inFlight: 3, lastProgressAt: Date.now() - 100_000, stuckAfterMs: 90_000, stuck: 1 });
    const stuck = await get(app, "/readyz");
    wedged.stuck = 0;
    assert.is(stuck.status, 503);
    assert.is(stuck.body.checks.nats.ok, true);
    assert.is(stuck.body.checks.actors.ok, false);
    assert.match(stuck.body.checks.actors.error, /^actor validate-wedged is stuck: 12 pending in the stream, 3 in flight, 0 held, no ack for 100 s \(limit 90 s\)$/);
    await nc.close();
    const down = await get(app, "/readyz");
    assert.is(down.status, 503);
    assert.is(down.body.checks.nats.ok, false);
    assert.is(down.body.checks.clickhouse.ok, true);
    assert.is((await get(app, "/healthz")).status, 200);
  } finally {
    await nc.close().catch(() => undefined);
    await nats.stop();
  }
});

test("the same app through a real socket", async ({ ch }) => {
  const served = await serveApi(appOver(ch), 0, "127.0.0.1");
  try {
    const health = await fetch(`${served.url}/healthz`);
    assert.is(health.status, 200);
    assert.equal(await health.json(), { status: "ok" });
    const anomalies = (await (await fetch(`${served.url}/v1/anomalies?source=txn&since=1h`)).json()) as any;
    assert.is(anomalies.count, 1);
    const bad = await fetch(`${served.url}/v1/anomalies?source=nope`);
    assert.is(bad.status, 400);
  } finally {
    await served.close();
  }
});

test.run();
