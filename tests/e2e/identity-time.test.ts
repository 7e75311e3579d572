import { suite } from "uvu";
import { streamMessages } from "../harness/run-snapshot.ts";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import { listDeadLetters, replayDeadLetters, toDeadLetter } from "../../api/dlq.ts";
import { HEADERS } from "../../subjects/catalog.ts";
import { eventMsgId, sequenceEventId } from "../../subjects/identity.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import type { TestMessage } from "../harness/events.ts";
import { waitFor } from "../harness/wait.ts";

const MINUTE = 60_000;
const SKEW_MS = 300_000;
const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline }>("event time and identity on a real pipeline");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  // The default SLUICE_MAX_FUTURE_SKEW_MS (5 min) is the limit under test; 100 ms sink batches
  // (as the other pipeline tests use) for the many waits on a row.
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { env: { SLUICE_SINK_BATCH_MS: "100" } });
  ctx.nc = await connect({ servers: ctx.nats.url });
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
});

const reading = (sensor: string, ts: number, fields: string): TestMessage => ({
  subject: `raw.iot.${sensor}`,
  body: `{"sensor_id":"${sensor}","ts":"${new Date(ts).toISOString()}",${fields}}`,
});

test("one reading 20 h ahead then 180 normal ones: one future_event_time dead letter, no late events, windows sum to 180", async ({ nc, pipeline }) => {
  const sensor = "skewed-1";
  const now = Date.now();
  const base = Math.floor((now - 10 * MINUTE) / MINUTE) * MINUTE;
  const ahead = reading(sensor, now + 20 * 3_600_000, `"temperature":99`);
  const normal = Array.from({ length: 180 }, (_, i) => reading(sensor, base + i * 1_000, `"temperature":20`));
  // Humidity only, two minutes past the last reading and still in the past: closes the windows.
  const flush = reading(sensor, base + 5 * MINUTE, `"humidity":50`);
  await publishAll(nc, [ahead, ...normal, flush]);

  const windowed = await waitFor(
    () => pipeline.scalar(`SELECT sum(count) FROM sluice.window_aggregates FINAL WHERE source = 'iot' AND kind = 'tumbling' AND metric = 'temperature' AND key = '${sensor}'`),
    (n) => n >= 180, 30_000,
  );
  assert.is(windowed, 180, "tumbling windows of the sensor sum to the 180 normal readings");
  assert.is(await pipeline.scalar(`SELECT max(max) FROM sluice.window_aggregates FINAL WHERE source = 'iot' AND metric = 'temperature' AND key = '${sensor}'`), 20, "the skewed reading is in no window");
  assert.is(await pipeline.scalar(`SELECT count() FROM sluice.events FINAL WHERE key = '${sensor}'`), 181, "the 180 and the flush reading are events");

  const dead = await waitFor(() => listDeadLetters(nc, { reason: "future_event_time" }), (l) => l.length >= 1);
  assert.is(dead.length, 1, "exactly one future_event_time dead letter");
  assert.is(dead[0].originalSubject, `raw.iot.${sensor}`);
  assert.is(dead[0].actor, "validate");
  for (const part of [`raw.iot.${sensor}`, `seq ${dead[0].originalSeq}`, `${SKEW_MS} ms`, "SLUICE_MAX_FUTURE_SKEW_MS"]) {
    assert.ok(dead[0].reason.includes(part), `${JSON.stringify(part)} in: ${dead[0].reason}`);
  }
  await waitFor(() => pipeline.scalar(`SELECT count() FROM sluice.dead_letters FINAL WHERE error_code = 'future_event_time'`), (n) => n >= 1);
  await sleep(1_500);
  assert.is(await pipeline.scalar(`SELECT count() FROM sluice.late_events WHERE key = '${sensor}'`), 0, "no reading of the sensor was late");
});

test("a future_event_time dead letter replayed once its time has come is accepted: the replay's RAW timestamp is newer", async ({ nc, pipeline }) => {
  const sensor = "skewed-2";
  const ts = Date.now() + SKEW_MS + 3_000;
  await publishAll(nc, [reading(sensor, ts, `"temperature":21`)]);
  const [dl] = await waitFor(() => listDeadLetters(nc, { reason: "future_event_time", source: "iot" }).then((l) => l.filter((d) => d.originalSubject === `raw.iot.${sensor}`)), (l) => l.length === 1);
  assert.ok(dl, "dead-lettered while 5 min + 3 s ahead");
  await sleep(Math.max(0, ts - SKEW_MS - Date.now()) + 1_000);

  const [result] = await replayDeadLetters(nc, [dl]);
  assert.is(result.error, undefined);
  assert.is(result.duplicate, false);
  const rows = await waitFor(() => pipeline.scalar(`SELECT count() FROM sluice.events FINAL WHERE key = '${sensor}'`), (n) => n >= 1, 20_000);
  assert.is(rows, 1, "the replay is an event");
  const rs = await pipeline.clickhouse!.client.query({ query: `SELECT event_id, toUnixTimestamp64Milli(ingest_time) AS ingest, raw_seq FROM sluice.events FINAL WHERE key = '${sensor}'`, format: "JSONEachRow" });
  const [row] = (await rs.json()) as Array<{ event_id: string; ingest: string | number; raw_seq: string | number }>;
  assert.is(row.event_id, sequenceEventId("RAW", dl.originalSeq), "the id the first delivery had");
  assert.ok(Number(row.raw_seq) > dl.originalSeq, "a new RAW message");
  const original = await (await jetstreamManager(nc)).streams.getMessage("RAW", { seq: dl.originalSeq });
  assert.ok(Number(row.ingest) > original!.time.getTime(), `replay stored at ${row.ingest}, after the original at ${original!.time.getTime()}`);
  assert.ok(ts - Number(row.ingest) <= SKEW_MS, "and within the skew of its event time");
});

test("an iot reading and a payment with one payload event_id are two events; a repeat and a replay of the reading stay one", async ({ nc, pipeline }) => {
  const key = "k-abc";
  const ts = new Date(Date.now() - 30_000).toISOString();
  const iot = { subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${ts}","temperature":20,"event_id":"abc-1"}` };
  const txn = { subject: `raw.txn.${key}`, body: `{"customer_id":"${key}","merchant_id":"m-1","amount":12.5,"currency":"EUR","ts":"${ts}","event_id":"abc-1"}` };
  const sentinel = { subject: "raw.iot.k-sentinel", body: `{"sensor_id":"k-sentinel","ts":"${ts}","temperature":20}` };
  const before = await streamCount(nc, "EVENTS");
  await publishAll(nc, [iot]);
  await sleep(50);
  await publishAll(nc, [txn, iot, sentinel]);

  await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events WHERE key = 'k-sentinel'"), (n) => n >= 1);
  assert.is(await streamCount(nc, "EVENTS") - before, 3, "EVENTS stored the reading, the payment and the sentinel; the repeated reading was a duplicate");
  assert.is(await pipeline.scalar("SELECT count() FROM sluice.events WHERE event_id = 'abc-1'"), 2, "two rows, without FINAL");
  assert.is(await pipeline.scalar("SELECT uniqExact(event_id, source) FROM sluice.events WHERE event_id = 'abc-1'"), 2);
  const dead = await listDeadLetters(nc, { source: "iot" });
  assert.is(dead.filter((d) => d.originalSubject === iot.subject).length, 0, "the repeat is dropped silently, not dead-lettered");

  // The event carries the scoped id (its own message's, or for a batched event the one it would
  // have alone); a dead-letter replay of the reading publishes what `sluice dlq replay` would and
  // is dropped as the same event (by EVENTS' duplicate window, or by validate for a batched one).
  const stored = (await streamMessages(nc, "EVENTS")).slice(before);
  const envelopes = stored.map((m) => ({ msgId: m.msgId, ...JSON.parse(m.data) as { source: string; key: string; event_id: string; raw_seq: number } }));
  const reading = envelopes.find((e) => e.source === "iot" && e.event_id === "abc-1")!;
  const payment = envelopes.find((e) => e.source === "txn" && e.event_id === "abc-1")!;
  assert.is(reading.msgId, eventMsgId("iot", key, "abc-1"));
  assert.is(payment.msgId, eventMsgId("txn", key, "abc-1"));
  const fake = toDeadLetter(0, "dlq.validate.iot", {
    [HEADERS.originalSubject]: iot.subject, [HEADERS.originalStream]: "RAW", [HEADERS.streamSequence]: String(reading.raw_seq),
  }, new TextEncoder().encode(iot.body), Date.now());
  const eventsBefore = await streamCount(nc, "EVENTS");
  const [replayed] = await replayDeadLetters(nc, [fake]);
  assert.is(replayed.error, undefined);
  const afterSentinel = { subject: "raw.iot.k-sentinel-2", body: `{"sensor_id":"k-sentinel-2","ts":"${ts}","temperature":20}` };
  await publishAll(nc, [afterSentinel]);
  await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events WHERE key = 'k-sentinel-2'"), (n) => n >= 1);
  assert.is(await streamCount(nc, "EVENTS") - eventsBefore, 1, "the replay was a duplicate on EVENTS; only the second sentinel is new");
  assert.is(await pipeline.scalar("SELECT count() FROM sluice.events WHERE event_id = 'abc-1'"), 2);
});

test.run();
