// Lineage against a running pipeline: an event that came late and was flagged shows its raw
// message, schema version, trace, late record, anomaly and the windows it was (not) counted in;
// a window shows its definition, versions and exactly the inputs its count was computed from; an
// enriched event shows the reference revision it was joined with and the entry at that revision.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { credentialsEnv } from "../harness/roles.ts";
import { validReadings, watermarkFlush } from "../harness/events.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { enrichedReadings } from "../harness/references.ts";
import { alertMessage } from "../../actors/detect/index.ts";
import { clickhouseRows } from "../../api/deps.ts";
import { eventLineage } from "../../lineage/event.ts";
import { windowLineage } from "../../lineage/window.ts";
import { natsRawReader } from "../../lineage/raw.ts";
import { natsReferenceReader } from "../../lineage/refs.ts";
import { openReferenceBucket } from "../../enrich/index.ts";
import { run as lineage } from "../../cli/lineage.ts";
import { injectContext, startTelemetry, type Telemetry } from "../../otel/index.ts";
import { HEADERS } from "../../subjects/catalog.ts";

const MINUTE = 60_000;
const LATE_ID = "late-reading-1";
const LATE_ENRICHED_ID = "late-enriched-reading-1";
/** `sluice lineage`'s environment: this server, the pipeline's state dir, and the command's own generated user (the operator). */
function lineageEnv(nc: NatsConnection, pipeline: TestPipeline): Record<string, string> {
  const url = nc.getServer().startsWith("nats") ? nc.getServer() : `nats://${nc.getServer()}`;
  const server = NatsServer.withTestAuth(url);
  return { NATS_URL: url, SLUICE_STATE_DIR: pipeline.stateDir, SLUICE_LOG_LEVEL: "warn", ...(server ? credentialsEnv(server) : {}) };
}

const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline; telemetry: Telemetry; lateBody: string; lateMinute: number }>("lineage");

const q = async (p: TestPipeline, sql: string) => (await p.clickhouse!.client.query({ query: sql, format: "JSONEachRow" })).json<Record<string, string>>();

test.before(async (ctx) => {
  ctx.telemetry = startTelemetry({ log: () => undefined });
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { tracerFor: ctx.telemetry.tracerFor, env: { SLUICE_SINK_BATCH_MS: "200", SLUICE_LAKE_FILE_ROWS: "20" } });
  ctx.nc = await connect({ servers: ctx.nats.url });
  // Ten minutes ago, 100 readings over 25 s; then a flush moves every watermark to a minute ago.
  const base = Math.floor((Date.now() - 10 * MINUTE) / MINUTE) * MINUTE;
  ctx.lateMinute = base;
  await publishAll(ctx.nc, validReadings(100, base));
  await publishAll(ctx.nc, watermarkFlush(Date.now() - MINUTE));
  await waitFor(() => ctx.pipeline.scalar(`SELECT count() FROM sluice.window_aggregates FINAL WHERE kind = 'tumbling' AND key = 'sensor-1' AND metric = 'temperature' AND window_start = toDateTime(${base / 1000}) AND count > 0`), (n) => n === 1);
  // A reading of sensor-1 in that closed minute, with its own id and schema version: too late for its window.
  ctx.lateBody = JSON.stringify({ sensor_id: "sensor-1", ts: new Date(base + 40_000).toISOString(), temperature: 35.5 });
  const h = headers();
  h.set(HEADERS.msgId, LATE_ID);
  h.set(HEADERS.schemaVersion, "1");
  const producer = ctx.telemetry.tracerFor("test-producer");
  await producer.startActiveSpan("publish", async (span) => {
    injectContext(h);
    await jetstream(ctx.nc).publish("raw.iot.sensor-1", ctx.lateBody, { headers: h });
    span.end();
  });
  await waitFor(() => ctx.pipeline.scalar(`SELECT count() FROM sluice.late_events FINAL WHERE event_id = '${LATE_ID}'`), (n) => n === 1);
  // Flagged: an anomaly on it as detect would send one.
  const [event] = await q(ctx.pipeline, `SELECT trace_id, event_time FROM sluice.events FINAL WHERE event_id = '${LATE_ID}'`);
  const at = Date.parse(`${event.event_time.replace(" ", "T")}Z`);
  const alert = alertMessage({
    event_id: LATE_ID, source: "iot", key: "sensor-1", metric: "temperature", score: 0.93, severity: "high", signal: "spike/1",
    explanation: { signal: "spike", expected: [19, 23], observed: 35.5 }, expected_low: 19, expected_high: 23, observed: 35.5, event_time: at, detected_at: at + 10, trace_id: event.trace_id,
  }, "lineage-test");
  await jetstream(ctx.nc).publish(alert.subject, alert.data, { msgID: alert.msgId });
  await waitFor(() => ctx.pipeline.scalar(`SELECT count() FROM sluice.anomalies FINAL WHERE event_id = '${LATE_ID}'`), (n) => n === 1);
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
  await ctx.telemetry?.shutdown();
});

test("lineage event on a late, flagged event: raw message, schema, trace, late record, anomaly; not counted in the window it missed", async ({ nc, pipeline, lateBody, lateMinute }) => {
  const rows = clickhouseRows(() => pipeline.clickhouse!.client);
  const l = await eventLineage(LATE_ID, { rows, raw: natsRawReader(nc) });
  const [stored] = await q(pipeline, `SELECT raw_seq, trace_id FROM sluice.events FINAL WHERE event_id = '${LATE_ID}'`);
  assert.ok(l.event, "the events row");
  assert.is(l.event!.raw_seq, Number(stored.raw_seq));
  assert.match(l.event!.trace_id, /^(?!0+$)[0-9a-f]{32}$/);
  assert.ok(!("gone" in l.raw), "RAW still has it");
  if (!("gone" in l.raw)) {
    assert.is(l.raw.subject, "raw.iot.sensor-1");
    assert.is(l.raw.seq, Number(stored.raw_seq));
    assert.is(l.raw.text, lateBody, "the original bytes");
    assert.is(l.raw.headers[HEADERS.msgId], LATE_ID);
    assert.ok(l.raw.headers.traceparent?.includes(l.event!.trace_id), "the producer's trace context travelled with it");
  }
  assert.equal(l.schema, { written: 1, stored: 1 });
  assert.is(l.late.length, 1);
  const [missed] = await q(pipeline, `SELECT window_id FROM sluice.window_aggregates FINAL WHERE kind = 'tumbling' AND key = 'sensor-1' AND metric = 'temperature' AND window_start = toDateTime(${lateMinute / 1000})`);
  assert.ok(l.late[0].window_ids.includes(missed.window_id), `late for ${missed.window_id}: ${l.late[0].window_ids.join(", ")}`);
  assert.not.ok(l.windows.some((w) => w.window_id === missed.window_id), "not counted in the window it was late for");
  // Every window of its minute had closed: the window actor folded it into none.
  assert.equal(l.windows, [], `counted in ${JSON.stringify(l.windows.map((w) => [w.kind, w.window_start, w.window_end]))}`);
  assert.is(await pipeline.scalar(`SELECT count() FROM sluice.window_aggregates FINAL WHERE key = 'sensor-1' AND metric = 'temperature' AND emitted_at >= (SELECT ingest_time FROM sluice.events FINAL WHERE event_id = '${LATE_ID}')`), 0);
  assert.is(l.anomalies.length, 1);
  assert.is(l.anomalies[0].signal, "spike/1");
  assert.equal(l.anomalies[0].explanation, { signal: "spike", expected: [19, 23], observed: 35.5 });

  // The command prints every part of it.
  const out: string[] = [];
  const log = console.log;
  console.log = (line: string) => void out.push(line);
  try {
    assert.is(await lineage(["event", LATE_ID], lineageEnv(nc, pipeline)), 0);
  } finally {
    console.log = log;
  }
  const text = out.join("\n");
  for (const part of [`body ${lateBody}`, `header ${HEADERS.msgId}: ${LATE_ID}`, l.event!.trace_id, "schema written v1, stored v1", `not counted in ${l.late[0].window_ids.join(", ")}`, "high temperature spike/1 score 0.93"]) {
    assert.ok(text.includes(part), `the text shows ${JSON.stringify(part)}:\n${text}`);
  }
});

test("lineage event on an on-time event: the windows it was counted in; lineage window: definition, versions and exactly its counted inputs", async ({ pipeline, lateMinute }) => {
  const rows = clickhouseRows(() => pipeline.clickhouse!.client);
  const [onTime] = await q(pipeline, `SELECT event_id FROM sluice.events FINAL WHERE key = 'sensor-1' AND event_time >= toDateTime(${lateMinute / 1000}) AND event_id != '${LATE_ID}' AND position(payload, 'temperature') > 0 ORDER BY event_time LIMIT 1`);
  const l = await eventLineage(onTime.event_id, { rows });
  assert.is(l.late.length, 0);
  // Without NATS only the lake can show the raw message (files of 20 rows: an early reading is there).
  assert.ok("gone" in l.raw ? /not reachable and the lake has no copy/.test(l.raw.gone) : l.raw.from === "lake", JSON.stringify(l.raw));
  const tumbling = l.windows.find((w) => w.kind === "tumbling" && w.metric === "temperature" && w.key === "sensor-1");
  assert.ok(tumbling, `windows: ${JSON.stringify(l.windows.map((w) => [w.kind, w.key, w.metric]))}`);
  assert.equal(tumbling!.definition, { kind: "tumbling", sizeMs: MINUTE });
  assert.ok(l.windows.some((w) => w.kind === "session" && w.key === "sensor-1"), "the sensor's session too");

  const w = await windowLineage(tumbling!.window_id, { rows });
  assert.is(w.window!.key, "sensor-1");
  assert.is(w.definition!.allowed_lateness_ms, MINUTE);
  const newest = w.versions[w.versions.length - 1];
  assert.is(w.input_count, newest.count, "the inputs are the events the window counted");
  assert.ok(w.inputs.some((e) => e.event_id === onTime.event_id));
  assert.equal(w.late.map((e) => e.event_id), [LATE_ID], "the late reading is listed, not counted");
  const values = w.inputs.map((e) => Number(e.value));
  assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) / values.length - newest.mean) < 1e-9, "their mean is the window's mean");
});

test("RAW forgot the message: lineage reads the original bytes and headers from the lake", async ({ nc, pipeline }) => {
  const rows = clickhouseRows(() => pipeline.clickhouse!.client);
  // Files of 20 rows: the first readings are in the lake by now.
  const inLake = await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.lake_raw"), (n) => n >= 20, 20_000);
  assert.ok(inLake >= 20, `lake rows: ${inLake}`);
  const [first] = await q(pipeline, "SELECT seq FROM sluice.lake_raw ORDER BY seq LIMIT 1");
  const [event] = await q(pipeline, `SELECT event_id, raw_seq FROM sluice.events FINAL WHERE raw_seq = ${first.seq}`);
  const stored = await (await jetstreamManager(nc)).streams.getMessage("RAW", { seq: Number(first.seq) });
  assert.ok(await (await jetstreamManager(nc)).streams.deleteMessage("RAW", Number(first.seq)), "RAW forgets it");
  const l = await eventLineage(event.event_id, { rows, raw: natsRawReader(nc) });
  assert.ok(!("gone" in l.raw), JSON.stringify(l.raw));
  if (!("gone" in l.raw)) {
    assert.is(l.raw.from, "lake");
    assert.is(l.raw.seq, Number(first.seq));
    assert.is(l.raw.text, new TextDecoder().decode(stored!.data), "the original bytes");
    assert.is(l.raw.stored_at, stored!.time.toISOString());
  }
});

test("lineage event on an enriched event: the reference revision used and the entry at it (not today's); one late, enriched and flagged shows all three; a reference that was missing", async ({ nc, pipeline, lateMinute }) => {
  const rows = clickhouseRows(() => pipeline.clickhouse!.client);
  const kv = await openReferenceBucket(nc, "sensors");
  const first = await kv.put("sensor-ref", JSON.stringify({ site: "north", floor: 2 }));
  const enriched = await enrichedReadings(nc, pipeline, "sensor-ref", `"sensor_ref_rev":${first}`);
  assert.ok(enriched.length > 0, `no reading enriched with revision ${first}`);
  // One more, late for its closed minute and flagged by an anomaly: lineage shows all three.
  const lateBody = JSON.stringify({ sensor_id: "sensor-ref", ts: new Date(lateMinute + 45_000).toISOString(), temperature: 36.5 });
  await jetstream(nc).publish("raw.iot.sensor-ref", lateBody, { msgID: LATE_ENRICHED_ID });
  await waitFor(() => pipeline.scalar(`SELECT count() FROM sluice.late_events FINAL WHERE event_id = '${LATE_ENRICHED_ID}'`), (n) => n === 1, 20_000);
  const [late] = await q(pipeline, `SELECT trace_id, event_time FROM sluice.events FINAL WHERE event_id = '${LATE_ENRICHED_ID}'`);
  const lateAt = Date.parse(`${late.event_time.replace(" ", "T")}Z`);
  const alert = alertMessage({
    event_id: LATE_ENRICHED_ID, source: "iot", key: "sensor-ref", metric: "temperature", score: 0.9, severity: "high", signal: "spike/1",
    explanation: { signal: "spike", expected: [19, 23], observed: 36.5 }, expected_low: 19, expected_high: 23, observed: 36.5, event_time: lateAt, detected_at: lateAt + 10, trace_id: late.trace_id,
  }, "lineage-test");
  await jetstream(nc).publish(alert.subject, alert.data, { msgID: alert.msgId });
  await waitFor(() => pipeline.scalar(`SELECT count() FROM sluice.anomalies FINAL WHERE event_id = '${LATE_ENRICHED_ID}'`), (n) => n === 1, 20_000);
  // Today's entry differs: the lineage must show the one the event was enriched with.
  const second = await kv.put("sensor-ref", JSON.stringify({ site: "south", floor: 3 }));
  assert.ok(second > first);
  const missing = await enrichedReadings(nc, pipeline, "sensor-unlisted", `"sensor_ref_missing":true`);
  assert.ok(missing.length > 0, "a reading of a sensor without an entry, flagged missing");

  const l = await eventLineage(enriched[0], { rows, raw: natsRawReader(nc), references: natsReferenceReader(nc) });
  assert.equal(l.references.map((r) => [r.kind, r.key, r.revision, r.missing]), [["sensors", "sensor-ref", first, false]]);
  assert.is(l.references[0].at?.operation, "PUT");
  assert.equal(l.references[0].at?.value, { site: "north", floor: 2 }, "the entry at the revision used, from KV history");
  assert.equal((l.event!.payload as Record<string, unknown>).sensor_site, "north");
  const all = await eventLineage(LATE_ENRICHED_ID, { rows, raw: natsRawReader(nc), references: natsReferenceReader(nc) });
  assert.is(all.late.length, 1, "late");
  assert.equal(all.references.map((r) => [r.revision, r.at?.value]), [[first, { site: "north", floor: 2 }]], "enriched");
  assert.equal(all.anomalies.map((a) => a.signal), ["spike/1"], "flagged");
  assert.ok(!("gone" in all.raw) && all.raw.text === lateBody, "its raw message");
  const m = await eventLineage(missing[0], { rows, raw: natsRawReader(nc), references: natsReferenceReader(nc) });
  assert.equal(m.references, [{ kind: "sensors", key: "sensor-unlisted", missing: true }]);
  // Without NATS the revision is still shown, and why its entry is not.
  const offline = await eventLineage(enriched[0], { rows });
  assert.is(offline.references[0].revision, first);
  assert.match(offline.references[0].gone ?? "", /not reachable/);

  // The command prints the revision and the entry at it.
  const out: string[] = [];
  const log = console.log;
  console.log = (line: string) => void out.push(line);
  try {
    assert.is(await lineage(["event", enriched[0]], lineageEnv(nc, pipeline)), 0);
    assert.is(await lineage(["event", LATE_ENRICHED_ID], lineageEnv(nc, pipeline)), 0);
    assert.is(await lineage(["event", missing[0]], lineageEnv(nc, pipeline)), 0);
  } finally {
    console.log = log;
  }
  const text = out.join("\n");
  for (const part of [`sensors sensor-ref: revision ${first}: {"site":"north","floor":2}`, "sensors sensor-unlisted: missing", `body ${lateBody}`, "high temperature spike/1 score 0.90", "not counted in"]) {
    assert.ok(text.includes(part), `the text shows ${JSON.stringify(part)}:\n${text}`);
  }
});

test.run();
