// The dashboard in Debian's chromium against a running pipeline with known data: each page loads
// without console errors, shows the figures SQL gives, draws its charts, links anomalies to their
// traces, follows an enriched event to the reference revision it used, and replays a dead letter
// from the page (and says why not with a viewer's token).
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Browser, Page } from "playwright-core";
import { NatsServer } from "../harness/nats-server.ts";
import { invalidMessages, validReadings, watermarkFlush } from "../harness/events.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { createApp } from "../../api/app.ts";
import { clickhouseRows, consumerLag } from "../../api/deps.ts";
import { natsDeadLetters } from "../../api/dlq.ts";
import { natsRawReader } from "../../lineage/raw.ts";
import { natsReferenceReader } from "../../lineage/refs.ts";
import { issueToken } from "../../auth/tokens.ts";
import { openReferenceBucket } from "../../enrich/index.ts";
import { enrichedReadings } from "../harness/references.ts";
import { sourceWatermarks } from "../../actors/window/metrics.ts";
import { windowForecasts } from "../../api/forecast.ts";
import { serveApi, type ServedApi } from "../../api/serve.ts";
import { pipelineTopology } from "../../actors/topology.ts";
import { alertMessage } from "../../actors/detect/index.ts";
import { allMetrics } from "../../actors/runtime/metrics.ts";
import { HEADERS, subject } from "../../subjects/catalog.ts";
import { startTelemetry, type Telemetry } from "../../otel/index.ts";
import { consoleErrors, drawnPixels, launchChromium, screenshotDir } from "./chromium.ts";

const N = 200;
const M = 5;
const JAEGER = "http://jaeger.example:16686";
const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline; api: ServedApi; browser: Browser; shots: string; traceId: string; eventId: string; telemetry: Telemetry }>("dashboard in chromium");

test.before(async (ctx) => {
  // Real trace ids on every event (spans get ids without being exported): the anomaly links to one.
  ctx.telemetry = startTelemetry({ log: () => undefined });
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { tracerFor: ctx.telemetry.tracerFor, env: { SLUICE_SINK_BATCH_MS: "100" } });
  ctx.nc = await connect({ servers: ctx.nats.url });
  const rows = clickhouseRows(() => ctx.pipeline.clickhouse!.client);
  const app = createApp({
    rows, metrics: allMetrics, lag: consumerLag(ctx.nc), pingNats: async () => undefined, pingClickHouse: async () => undefined,
    forecast: windowForecasts(rows), topology: pipelineTopology(ctx.pipeline.config.partitions), deadLetters: natsDeadLetters(ctx.nc), jaegerUiUrl: JAEGER, raw: natsRawReader(ctx.nc), references: natsReferenceReader(ctx.nc), watermarks: sourceWatermarks,
  });
  ctx.api = await serveApi(app, 0);
  ctx.browser = await launchChromium();
  ctx.shots = screenshotDir("dashboard");

  // Twenty minutes of readings ending two minutes ago (event time), their windows closed by a flush.
  const base = Date.now() - 22 * 60_000;
  await publishAll(ctx.nc, [...validReadings(N / 2, base), ...invalidMessages(M), ...validReadings(N / 2, base + 10 * 60_000)]);
  await publishAll(ctx.nc, watermarkFlush(Date.now() - 60_000));
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.events FINAL WHERE position(payload, 'temperature') > 0"), (n) => n >= N);
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.dead_letters FINAL"), (n) => n >= M);
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.window_aggregates FINAL WHERE kind = 'tumbling' AND metric = 'temperature'"), (n) => n > 0);

  // One anomaly on a stored event, through ALERTS and the anomalies sink as detect would send it.
  const [event] = await (await ctx.pipeline.clickhouse!.client.query({ query: "SELECT event_id, key, trace_id, event_time FROM sluice.events FINAL WHERE source = 'iot' AND position(payload, 'temperature') > 0 ORDER BY event_time DESC LIMIT 1", format: "JSONEachRow" })).json<{ event_id: string; key: string; trace_id: string; event_time: string }>();
  ctx.traceId = event.trace_id;
  ctx.eventId = event.event_id;
  assert.match(event.trace_id, /^(?!0+$)[0-9a-f]{32}$/, "the event has a real trace id");
  const at = Date.parse(`${event.event_time.replace(" ", "T")}Z`);
  const alert = alertMessage({
    event_id: event.event_id, source: "iot", key: event.key, metric: "temperature", score: 0.9, severity: "high", signal: "spike/1",
    explanation: { signal: "spike", expected: [19, 23], observed: 41 }, expected_low: 19, expected_high: 23, observed: 41, event_time: at, detected_at: at + 100, trace_id: event.trace_id,
  }, "browser-test");
  await jetstream(ctx.nc).publish(alert.subject, alert.data, { msgID: alert.msgId });
  await waitFor(() => ctx.pipeline.scalar(`SELECT count() FROM sluice.anomalies FINAL WHERE event_id = '${event.event_id}'`), (n) => n === 1);

  // validate reports a minute's quality counts once stream time passes the minute, which this
  // test's burst of traffic does not wait for: one report as validate sends it, through DQ and its sink.
  const minute = (Math.floor(Date.now() / 60_000) - 2) * 60_000;
  const report = { report_id: `browser-test:iot:temperature_range:${minute}`, minute, source: "iot", expectation: "temperature_range", kind: "range", severity: "warn", evaluated: 400, failed: 7, sample_event_id: event.event_id, sample_reason: "out of range", reported_at: Date.now() };
  await jetstream(ctx.nc).publish(subject.dq("iot"), JSON.stringify(report), { msgID: report.report_id });
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.dq_results FINAL"), (n) => n >= 1);
});

test.after(async (ctx) => {
  await ctx.browser?.close();
  await ctx.api?.close();
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
  await ctx.telemetry?.shutdown();
});

async function open(ctx: { api: ServedApi; browser: Browser }, page: string): Promise<{ page: Page; errors: string[] }> {
  const p = await ctx.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = consoleErrors(p);
  await p.goto(`${ctx.api.url}/ui/#${page}`);
  await p.waitForSelector("#status:has-text('updated')", { timeout: 20_000 });
  return { page: p, errors };
}

const cell = (page: Page, table: string, row: string, column: string) => page.locator(`[data-testid="${table}"] tr[data-row="${row}"] td[data-cell="${column}"]`).innerText();
const int = (text: string) => Number(text.replace(/,/g, ""));

test("Pipeline: topology from the declarations; events, dead letters and data quality equal SQL", async (ctx) => {
  const { page, errors } = await open(ctx, "pipeline");
  await page.waitForSelector('[data-testid="topology"] [data-node="actor:clickhouse-sink-anomalies"]');
  for (const node of ["stream:RAW", "actor:validate", "stream:EVENTS", "actor:window", "table:sluice.window_aggregates", "table:sluice.late_events"]) {
    assert.is(await page.locator(`[data-testid="topology"] [data-node="${node}"]`).count(), 1, node);
  }
  const events = await ctx.pipeline.scalar("SELECT count() FROM sluice.events FINAL WHERE source = 'iot' AND ingest_time >= now() - 3600");
  assert.ok(events >= N);
  assert.is(int(await cell(page, "sources", "iot", "events")), events);
  const watermark = sourceWatermarks().find((w) => w.source === "iot")?.watermark;
  assert.ok(watermark, "the window actor has an iot watermark");
  assert.is(await cell(page, "sources", "iot", "watermark"), new Date(watermark!).toISOString().replace("T", " ").slice(0, 19));
  const byReason = await (await ctx.pipeline.clickhouse!.client.query({ query: "SELECT actor, error_code, count() AS n FROM sluice.dead_letters FINAL GROUP BY actor, error_code", format: "JSONEachRow" })).json<{ actor: string; error_code: string; n: string }>();
  assert.ok(byReason.length >= 2, "more than one reason");
  for (const r of byReason) assert.is(int(await cell(page, "dead-letters", `${r.actor}/${r.error_code}`, "count")), Number(r.n), `${r.actor}/${r.error_code}`);
  const dq = await (await ctx.pipeline.clickhouse!.client.query({ query: "SELECT source, expectation, sum(evaluated) AS e, sum(failed) AS f FROM sluice.dq_results FINAL WHERE minute >= now() - 3600 GROUP BY source, expectation", format: "JSONEachRow" })).json<{ source: string; expectation: string; e: string; f: string }>();
  assert.ok(dq.length >= 1, "quality counts stored");
  for (const q of dq) {
    assert.is(int(await cell(page, "data-quality", `${q.source}/${q.expectation}`, "evaluated")), Number(q.e));
    assert.is(int(await cell(page, "data-quality", `${q.source}/${q.expectation}`, "failed")), Number(q.f));
    const rate = (Number(q.e) - Number(q.f)) / Number(q.e);
    assert.is(await cell(page, "data-quality", `${q.source}/${q.expectation}`, "pass rate"), `${(rate * 100).toFixed(1)}%`);
  }
  // The rate needs two samples: wait for the second refresh.
  await page.waitForFunction(`!document.querySelector('[data-testid="actors"] tr[data-row="validate"] td[data-cell="rate"]').textContent.includes("…")`, undefined, { timeout: 15_000 });
  await page.screenshot({ path: join(ctx.shots, "pipeline.png"), fullPage: true });
  assert.equal(errors, []);
  await page.close();
});

test("Sources: events per minute and a key's windows are drawn; top keys equal SQL", async (ctx) => {
  const { page, errors } = await open(ctx, "sources");
  await page.waitForSelector('[data-testid="top-keys"] tr[data-row]');
  const top = await (await ctx.pipeline.clickhouse!.client.query({ query: "SELECT key, count() AS n FROM sluice.events FINAL WHERE source = 'iot' AND ingest_time >= now() - 3600 GROUP BY key ORDER BY n DESC, key LIMIT 10", format: "JSONEachRow" })).json<{ key: string; n: string }>();
  for (const k of top) assert.is(int(await cell(page, "top-keys", k.key, "events")), Number(k.n), k.key);
  await page.waitForFunction(`document.querySelectorAll('[data-testid="window-stats-chart"] canvas').length > 0`, undefined, { timeout: 15_000 });
  assert.ok(await drawnPixels(page, '[data-testid="events-per-minute"]') > 500, "events per minute drawn");
  assert.ok(await drawnPixels(page, '[data-testid="window-stats-chart"]') > 500, "window mean and p95 drawn");
  await page.screenshot({ path: join(ctx.shots, "sources.png"), fullPage: true });
  assert.equal(errors, []);
  await page.close();
});

test("Anomalies: the row carries its explanation and a Jaeger link with the row's trace id; its event link leads to the raw message", async (ctx) => {
  const { page, errors } = await open(ctx, "anomalies");
  await page.waitForSelector('[data-testid="trace-link"]');
  const row = page.locator(`[data-testid="anomalies"] tr[data-row="${ctx.eventId}"]`);
  assert.is(await row.locator('[data-testid="trace-link"]').getAttribute("href"), `${JAEGER}/trace/${ctx.traceId}`);
  assert.match(await row.innerText(), /spike\/1/);
  assert.ok(await drawnPixels(page, '[data-testid="anomaly-timeline"]') > 100, "timeline drawn");
  await page.screenshot({ path: join(ctx.shots, "anomalies.png"), fullPage: true });

  // From the anomaly to its event, its raw message and its trace.
  await row.locator('[data-testid="event-link"]').click();
  await page.waitForSelector('[data-testid="raw-body"]', { timeout: 15_000 });
  const [event] = await (await ctx.pipeline.clickhouse!.client.query({ query: `SELECT raw_seq FROM sluice.events FINAL WHERE trace_id = '${ctx.traceId}'`, format: "JSONEachRow" })).json<{ raw_seq: string }>();
  const raw = await (await jetstreamManager(ctx.nc)).streams.getMessage("RAW", { seq: Number(event.raw_seq) });
  assert.is(await page.locator('[data-testid="raw-body"]').innerText(), new TextDecoder().decode(raw!.data), "the raw message's bytes");
  assert.is(await page.locator('[data-testid="lineage-trace-link"]').getAttribute("href"), `${JAEGER}/trace/${ctx.traceId}`);
  assert.ok(await page.locator('[data-testid="lineage-anomalies"] tbody tr').count() === 1, "its anomaly");
  assert.ok(await page.locator('[data-testid="lineage-windows"] tbody tr').count() >= 1, "the windows it was counted in");
  await page.screenshot({ path: join(ctx.shots, "lineage.png"), fullPage: true });
  assert.equal(errors, []);
  await page.close();
});

test("Forecasts: a series' history and forecast are drawn", async (ctx) => {
  const { page, errors } = await open(ctx, "forecasts");
  await page.waitForSelector('[data-testid="series-picker"] option', { state: "attached" });
  await page.waitForFunction(`document.querySelectorAll('[data-testid="forecast-chart"] canvas').length > 0`, undefined, { timeout: 15_000 });
  assert.ok(await drawnPixels(page, '[data-testid="forecast-chart"]') > 500, "forecast drawn");
  await page.screenshot({ path: join(ctx.shots, "forecasts.png"), fullPage: true });
  assert.equal(errors, []);
  await page.close();
});

test("Dead letters: filter by reason, show one, replay it back to RAW from the page", async (ctx) => {
  const { page, errors } = await open(ctx, "dlq");
  await page.waitForSelector('[data-testid="dlq"] tr[data-row]');
  assert.is(await page.locator('[data-testid="dlq"] tbody tr').count(), M);
  await page.fill('[data-testid="reason-filter"]', "json");
  await waitFor(() => page.locator('[data-testid="dlq"] tbody tr').count(), (n) => n < M, 15_000);
  const shown = await page.locator('[data-testid="dlq"] tbody tr').count();
  assert.ok(shown >= 1 && shown < M, `filtered to ${shown}`);
  await page.locator('[data-testid="dlq"] tbody tr').first().click();
  await page.waitForSelector('[data-testid="replay"]');
  const payload = await page.locator('[data-testid="payload"]').innerText();
  const rawBefore = (await (await jetstreamManager(ctx.nc)).streams.info("RAW")).state.last_seq;
  await page.screenshot({ path: join(ctx.shots, "dead-letters.png"), fullPage: true });
  await page.click('[data-testid="replay"]');
  await page.waitForSelector('[data-testid="replay-result"]', { timeout: 15_000 });
  const replayed = (await (await jetstreamManager(ctx.nc)).streams.getMessage("RAW", { last_by_subj: "raw.iot.sensor-1" }))!;
  assert.ok(replayed.seq > rawBefore, "a new RAW message");
  assert.is(new TextDecoder().decode(replayed.data), payload);
  assert.is(replayed.header?.get(HEADERS.replayCount), "1");
  // The replayed message fails again and comes back as a dead letter that says it was replayed once.
  await page.fill('[data-testid="reason-filter"]', "");
  await page.waitForSelector('[data-testid="dlq"] td[data-cell="replays"]:text-is("1")', { timeout: 20_000 });
  assert.equal(errors, []);
  await page.close();
});

test("Dead letters with a viewer token: the replay is refused (403) and the page says it needs the operator role", async (ctx) => {
  const viewer = issueToken("viewer", "browser-test", "test");
  const rows = clickhouseRows(() => ctx.pipeline.clickhouse!.client);
  const guarded = await serveApi(createApp({
    rows, metrics: allMetrics, lag: consumerLag(ctx.nc), pingNats: async () => undefined, pingClickHouse: async () => undefined,
    forecast: windowForecasts(rows), deadLetters: natsDeadLetters(ctx.nc), auth: { tokens: () => [viewer.record] },
  }), 0);
  const page = await ctx.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  try {
    // The token as the login box keeps it (web/dom.js), there before the page's first request.
    await page.addInitScript({ content: `localStorage.setItem("sluice.apiToken", ${JSON.stringify(viewer.token)})` });
    await page.goto(`${guarded.url}/ui/#dlq`);
    await page.waitForSelector('[data-testid="dlq"] tr[data-row]', { timeout: 20_000 });
    await page.locator('[data-testid="dlq"] tbody tr').first().click();
    await page.waitForSelector('[data-testid="replay"]');
    const rawBefore = (await (await jetstreamManager(ctx.nc)).streams.info("RAW")).state.last_seq;
    await page.click('[data-testid="replay"]');
    const refused = await page.waitForSelector('[data-testid="replay-refused"]', { timeout: 15_000 });
    const text = await refused.innerText();
    assert.match(text, /needs the operator role/);
    assert.match(text, /--role operator/, `the hint says how to get one: ${text}`);
    assert.is(await page.locator('[data-testid="replay-result"]').count(), 0);
    assert.is((await (await jetstreamManager(ctx.nc)).streams.info("RAW")).state.last_seq, rawBefore, "nothing was replayed");
    await page.screenshot({ path: join(ctx.shots, "dead-letters-viewer.png"), fullPage: true });
  } finally {
    await page.close();
    await guarded.close();
  }
});

// Last: once the sensors bucket has an entry, every later iot event is enriched or flagged missing.
test("Lineage: an enriched event lists its reference, the revision used and the entry at that revision", async (ctx) => {
  const kv = await openReferenceBucket(ctx.nc, "sensors");
  const revision = await kv.put("sensor-ui", JSON.stringify({ site: "dock 4" }));
  const [id] = await enrichedReadings(ctx.nc, ctx.pipeline, "sensor-ui", `"sensor_ref_rev":${revision}`);
  assert.ok(id, `no reading enriched with revision ${revision}`);
  // Today's entry is another: the page shows the one used.
  await kv.put("sensor-ui", JSON.stringify({ site: "dock 9" }));
  const { page, errors } = await open(ctx, `lineage/event/${encodeURIComponent(id)}`);
  await page.waitForSelector('[data-testid="lineage-references"] tr[data-row="sensors/sensor-ui"]', { timeout: 15_000 });
  assert.is(await cell(page, "lineage-references", "sensors/sensor-ui", "revision"), String(revision));
  assert.is(await cell(page, "lineage-references", "sensors/sensor-ui", "entry at that revision"), '{"site":"dock 4"}');
  await page.screenshot({ path: join(ctx.shots, "lineage-enriched.png"), fullPage: true });
  assert.equal(errors, []);
  await page.close();
});

test.run();
