// What one request may cost the API: body size, how far back `since` reaches, time, CORS (off
// unless configured), the exact JSON media type on POSTs, a /readyz that names no internals, and
// a bounded scoring queue for /v1/predict.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { OpenClickHouse } from "../../clickhouse/index.ts";
import { ScoringQueue } from "../../api/guard.ts";
import { clickhouseRows } from "../../api/deps.ts";
import { readOnlyStatement } from "../../clickhouse/readonly.ts";
import { NOW, appOver, seededClickHouse } from "./fixtures.ts";

const test = suite<{ ch: OpenClickHouse; cleanup: () => Promise<void> }>("api limits");

test.before(async (ctx) => {
  const seeded = await seededClickHouse();
  ctx.ch = seeded.ch;
  ctx.cleanup = seeded.cleanup;
});
test.after(async (ctx) => ctx.cleanup?.());

const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as { error: { field?: string; message: string; hint: string } } });

test("since further back than 31 days is a 400 naming the bound; 31 days is fine", async ({ ch }) => {
  const app = appOver(ch);
  for (const since of ["0", "32d", new Date(NOW - 40 * 86_400_000).toISOString()]) {
    const { status, body } = await json(await app.request(`/v1/anomalies?since=${since}`));
    assert.is(status, 400, since);
    assert.is(body.error.field, "since");
    assert.match(body.error.message, /more than 31 days back/);
    assert.match(body.error.hint, /31d/);
  }
  assert.is((await app.request("/v1/anomalies?since=31d")).status, 200);
  assert.is((await app.request("/v1/pipeline?since=90d")).status, 400, "the dashboard's routes have the same bound");
  assert.is((await app.request("/v1/windows?source=iot&limit=10001")).status, 400);
  assert.is((await app.request("/v1/forecast/iot:sensor-1:temperature?horizon=1001")).status, 400);
});

test("a body over the limit is 413 before it is parsed", async ({ ch }) => {
  const app = appOver(ch, { guard: { maxBodyBytes: 1_000 } });
  const big = JSON.stringify({ series: "s", points: Array.from({ length: 100 }, (_, i) => ({ timestamp: i, value: i })) });
  const { status, body } = await json(await app.request("/v1/predict", { method: "POST", headers: { "content-type": "application/json" }, body: big }));
  assert.is(status, 413);
  assert.is(body.error.field, "body");
  assert.match(body.error.message, /larger than 1000 bytes/);
});

test("a POST must declare exactly application/json (parameters allowed); a bodiless POST may declare nothing", async ({ ch }) => {
  const app = appOver(ch);
  const one = JSON.stringify({ series: "ct", timestamp: 1, value: 1 });
  for (const type of ["text/plain", "application/json-patch+json", "application/x-www-form-urlencoded", "text/plain; application/json"]) {
    const { status, body } = await json(await app.request("/v1/predict", { method: "POST", headers: { "content-type": type }, body: one }));
    assert.is(status, 415, type);
    assert.is(body.error.field, "content-type");
  }
  assert.is((await app.request("/v1/predict", { method: "POST", headers: { "content-type": "Application/JSON; charset=utf-8" }, body: one })).status, 200);
  // A cross-site form post to replay is refused before the handler; without a body and type it reaches it (404: no DLQ here).
  assert.is((await app.request("/v1/dlq/1/replay", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } })).status, 415);
  assert.is((await app.request("/v1/dlq/1/replay", { method: "POST" })).status, 404);
});

test("CORS is off by default and allows only the configured origins", async ({ ch }) => {
  const origin = "https://dash.example";
  const off = await appOver(ch).request("/v1/anomalies?since=1h", { headers: { origin } });
  assert.is(off.headers.get("access-control-allow-origin"), null);
  const app = appOver(ch, { guard: { corsOrigins: [origin] } });
  const allowed = await app.request("/v1/anomalies?since=1h", { headers: { origin } });
  assert.is(allowed.headers.get("access-control-allow-origin"), origin);
  const other = await app.request("/v1/anomalies?since=1h", { headers: { origin: "https://evil.example" } });
  assert.is(other.headers.get("access-control-allow-origin"), null);
  const preflight = await app.request("/v1/predict", { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } });
  assert.is(preflight.status, 204);
  assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/);
});

test("a request still running after the timeout is 504; /readyz names the failure's kind, not its URL or path", async ({ ch }) => {
  const slowRows = async () => new Promise<never>(() => undefined);
  const app = appOver(ch, { rows: slowRows, guard: { requestTimeoutMs: 200 } });
  const started = Date.now();
  const { status, body } = await json(await app.request("/v1/anomalies?since=1h"));
  assert.is(status, 504);
  assert.match(body.error.message, /longer than 200 ms/);
  assert.ok(Date.now() - started < 5_000);
  const leaky = appOver(ch, {
    pingClickHouse: async () => {
      throw Object.assign(new Error("connect ECONNREFUSED 10.1.2.3:8123 (/var/lib/sluice/state/clickhouse)"), { name: "ClickHouseUnavailableError" });
    },
  });
  const ready = await leaky.request("/readyz");
  assert.is(ready.status, 503);
  const text = await ready.text();
  assert.not.match(text, /10\.1\.2\.3|\/var\/lib|8123/);
  assert.match(text, /unavailable \(ClickHouseUnavailableError\)/);
});

test("/v1/predict queues its scoring: past the queue's depth a request is 503 with retry-after, and the queue drains", async ({ ch }) => {
  const scoring = new ScoringQueue(1, 64);
  const app = appOver(ch, { scoring });
  const batch = (series: string) => JSON.stringify({ series, points: Array.from({ length: 5_000 }, (_, i) => ({ timestamp: i * 1000, value: Math.sin(i) })) });
  const post = (series: string) => app.request("/v1/predict", { method: "POST", headers: { "content-type": "application/json" }, body: batch(series) });
  const answers = await Promise.all(["a", "b", "c", "d"].map(post));
  const statuses = answers.map((r) => r.status);
  assert.ok(statuses.filter((s) => s === 200).length >= 2, `running and waiting ones are served: ${statuses}`);
  const refused = answers.filter((r) => r.status === 503);
  assert.ok(refused.length >= 1, `one running and one waiting, the rest refused: ${statuses}`);
  assert.is(refused[0]!.headers.get("retry-after"), "1");
  assert.match(((await refused[0]!.json()) as { error: { message: string } }).error.message, /scoring queue is full/);
  assert.is(scoring.length, 0);
  assert.is((await post("e")).status, 200);
});

test("the event loop keeps turning while a large batch is scored", async () => {
  const scoring = new ScoringQueue(8, 256);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  let work = 0;
  await scoring.run(200_000, (i) => {
    for (let k = 0; k < 200; k++) work += Math.sqrt(i + k);
    return i;
  });
  clearInterval(timer);
  assert.ok(work > 0);
  assert.ok(ticks > 5, `timers ran ${ticks} times while scoring`);
});

test("every SQL the routes send passes the read-only gate that sluice.rpc.sql applies under --split", async ({ ch }) => {
  const direct = clickhouseRows(() => ch.client);
  const sent: string[] = [];
  const app = appOver(ch, {
    rows: async (sql) => {
      sent.push(sql);
      readOnlyStatement(sql);
      return direct(sql);
    },
  });
  const routes = ["/v1/anomalies?since=1h&source=iot&key=sensor-1", "/v1/windows?source=iot&key=sensor-1&metric=temperature&since=2h", "/v1/forecast/iot:sensor-1:temperature",
    "/v1/pipeline?since=1h", "/v1/sources/iot?since=1h", "/v1/series?since=24h", "/v1/lineage/events/evt-0", "/v1/lineage/windows/w-1", "/readyz"];
  for (const path of routes) {
    const res = await app.request(path);
    assert.ok(res.status < 500, `${path}: ${res.status} ${await res.text()}`);
  }
  assert.ok(sent.length >= routes.length, `${sent.length} statements`);
});

test.run();
