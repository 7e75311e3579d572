import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { waitFor } from "../harness/wait.ts";
import { eventRow, migrate, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import { sinkActors, unstorableDeadLetter } from "../../actors/sink/index.ts";
import { sinkActor } from "../../actors/sink/sink.ts";
import { OpenServices, SERVICES } from "../../actors/services.ts";
import { alertMessage, anomaliesSinkActor, type Alert } from "../../actors/detect/index.ts";
import type { ActorDefinition } from "../../actors/runtime/actor.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { PoisonError } from "../../actors/runtime/errors.ts";
import { wireSize } from "../../actors/runtime/size.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { metricsFor } from "../../actors/runtime/metrics.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { HEADERS, seconds } from "../../subjects/catalog.ts";
import type { ConsumerDefinition } from "../../subjects/consumers.ts";
import type { Envelope } from "../../subjects/envelope.ts";

interface Ctx {
  nats: NatsServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  ch: OpenClickHouse;
  dataDir: string;
}

const test = suite<Ctx>("ClickHouse sinks on a real nats-server and chDB");
const log = createLogger("error");
const DAY = 86_400_000;
const T0 = Date.UTC(2020, 0, 1, 12);

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.jsm = await jetstreamManager(ctx.nc);
  await ensureStreams(ctx.jsm);
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-sink-chdb-"));
  ctx.ch = await openClickHouse({ dataDir: ctx.dataDir, logger: { info() {}, warn() {} } });
  await migrate(ctx.ch.client, ctx.ch.caps);
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.ch?.close();
  await ctx.nats?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

async function scalar(ch: OpenClickHouse, sql: string): Promise<number> {
  const rs = await ch.client.query({ query: sql, format: "JSONEachRow" });
  const rows = (await rs.json()) as Array<Record<string, unknown>>;
  return Number(Object.values(rows[0] ?? { v: 0 })[0]);
}

/** Runs the actor until `until` holds (or the timeout), then stops it; returns whether it held. */
async function runUntil(nc: NatsConnection, ch: OpenClickHouse, actor: ActorDefinition, until: () => Promise<boolean>, timeoutMs = 20_000): Promise<boolean> {
  const controller = new AbortController();
  const running = runActor(actor, { nc, log, signal: controller.signal, services: new OpenServices().provide(SERVICES.clickhouse, ch) });
  const ok = await waitFor(until, Boolean, timeoutMs, 100);
  controller.abort();
  await running;
  return ok;
}

function envelope(source: Envelope["source"], i: number, eventTime: number, key = `k-${i % 7}`): Envelope {
  return { event_id: `${source}-${i}`, source, key, schema_version: 1, event_time: eventTime, ingest_time: eventTime, payload: { i }, raw_subject: `raw.${source}.${key}`, raw_seq: i + 1 };
}

async function publishEnvelopes(nc: NatsConnection, source: Envelope["source"], envelopes: Envelope[]): Promise<void> {
  const js = jetstream(nc);
  await Promise.all(envelopes.map((e) => js.publish(`events.${source}.0`, JSON.stringify(e), { msgID: e.event_id })));
}

function ownConsumer(name: string, filter: string): ConsumerDefinition {
  return { stream: "EVENTS", durable_name: name, filter_subject: filter, ack_policy: "explicit", deliver_policy: "all", ack_wait: seconds(20), max_deliver: -1, max_ack_pending: 10_000 };
}

async function consumerSettled(jsm: JetStreamManager, stream: string, durable: string): Promise<boolean> {
  const info = await jsm.consumers.info(stream, durable);
  return info.num_pending === 0 && info.num_ack_pending === 0;
}

test("a batch of events spanning 150 days (over the 100-partition INSERT limit) lands exactly once", async ({ nc, jsm, ch }) => {
  const n = 150;
  // Published before the sink starts, so they arrive as one batch: one INSERT over 150 daily partitions.
  await publishEnvelopes(nc, "iot", Array.from({ length: n }, (_, i) => envelope("iot", i, T0 + i * DAY)));
  const actor = sinkActors({ maxRows: 5_000, maxWaitMs: 500, typedColumns: false })["clickhouse-sink-events"]();
  const landed = await runUntil(nc, ch, actor, async () => (await scalar(ch, "SELECT count() FROM sluice.events WHERE source = 'iot'")) >= n);
  assert.ok(landed, "every row of the 150-day batch was inserted (the old sink retried the refused INSERT forever)");
  assert.is(await scalar(ch, "SELECT count() FROM sluice.events WHERE source = 'iot'"), n, "no row inserted twice (count without FINAL)");
  assert.is(await scalar(ch, "SELECT uniqExact(event_id) FROM sluice.events WHERE source = 'iot'"), n);
  assert.is(await scalar(ch, "SELECT uniqExact(toYYYYMMDD(event_time)) FROM sluice.events WHERE source = 'iot'"), n, "150 distinct partitions");
  assert.ok(await consumerSettled(jsm, "EVENTS", "clickhouse-sink-events"), "every message acked");
  assert.is(metricsFor("clickhouse-sink-events").deadLettered, 0);
});

test("one row ClickHouse refuses is dead-lettered alone; every other row of its batch is inserted once", async ({ nc, jsm, ch }) => {
  const n = 40;
  const bad = 23;
  await publishEnvelopes(nc, "social", Array.from({ length: n }, (_, i) => envelope("social", i, T0 + i * 1000)));
  const actor = sinkActor({
    name: "test-sink-refused",
    consumes: ownConsumer("test-sink-refused", "events.social.>"),
    table: "events",
    maxRows: 5_000,
    maxWaitMs: 500,
    toRow: (input) => {
      const e = JSON.parse(new TextDecoder().decode(input.data)) as Envelope;
      const row = eventRow(e, input.traceId, ch.caps);
      // A value the column cannot take (UInt64): stands for any row ClickHouse refuses as data.
      return e.event_id === `social-${bad}` ? { ...row, raw_seq: -1 } : row;
    },
  });
  const settled = await runUntil(nc, ch, actor, () => consumerSettled(jsm, "EVENTS", "test-sink-refused"));
  assert.ok(settled, "every message acked or dead-lettered");
  assert.is(await scalar(ch, "SELECT count() FROM sluice.events WHERE source = 'social'"), n - 1, "the others inserted, each once (count without FINAL)");
  assert.is(await scalar(ch, `SELECT count() FROM sluice.events WHERE event_id = 'social-${bad}'`), 0);
  assert.is(metricsFor("test-sink-refused").deadLettered, 1, "only the bad row is dead-lettered");
  const dead = await jsm.streams.getMessage("DLQ", { last_by_subj: "dlq.test-sink-refused.social" });
  assert.is(dead?.header?.get(HEADERS.errorCode), "clickhouse_rejected");
  const reason = dead?.header?.get(HEADERS.reason) ?? "";
  assert.match(reason, /code 72 CANNOT_PARSE_NUMBER, column raw_seq/);
  assert.not.match(reason, /social-\d+|"payload"/, "the reason echoes no row values");
});

test("a row that fails alone with an unclassified error is retried, then dead-lettered with the error; the rest land once", async ({ nc, jsm, ch }) => {
  // A DEFAULT that throws for one key: a real ClickHouse error (395) no classifier names. It
  // stays (dropping a column waits on merges for many seconds); no other test uses that key.
  await ch.client.command({ query: "ALTER TABLE sluice.events ADD COLUMN test_guard UInt8 DEFAULT throwIf(key = 'explode', 'refused by the test guard')" });
  const events = Array.from({ length: 12 }, (_, i) => envelope("txn", i, T0 + i * 1000, i === 5 ? "explode" : `c-${i}`));
  await publishEnvelopes(nc, "txn", events);
  const actor = sinkActor({
    name: "test-sink-unknown",
    consumes: ownConsumer("test-sink-unknown", "events.txn.>"),
    table: "events",
    maxRows: 5_000,
    maxWaitMs: 200,
    unknownErrorDeliveries: 3,
    toRow: (input) => eventRow(JSON.parse(new TextDecoder().decode(input.data)) as Envelope, input.traceId, ch.caps),
  });
  const settled = await runUntil(nc, ch, actor, () => consumerSettled(jsm, "EVENTS", "test-sink-unknown"), 30_000);
  assert.ok(settled, "the failing row was given up on after its deliveries");
  assert.is(await scalar(ch, "SELECT count() FROM sluice.events WHERE source = 'txn'"), 11, "every other row inserted, each once");
  const dead = await jsm.streams.getMessage("DLQ", { last_by_subj: "dlq.test-sink-unknown.txn" });
  assert.is(dead?.header?.get(HEADERS.errorCode), "clickhouse_unknown_error");
  assert.is(dead?.header?.get(HEADERS.deliveries), "3", "dead-lettered on its third delivery, not the first");
  assert.match(dead?.header?.get(HEADERS.reason) ?? "", /code 395 FUNCTION_THROW_IF_VALUE_IS_NON_ZERO: refused by the test guard/);
  assert.is(metricsFor("test-sink-unknown").deadLettered, 1);
});

test("the DLQ sink puts a dead letter it cannot store on dlq-sink.>, never back on DLQ, and keeps going", async ({ nc, jsm, ch }) => {
  const js = jetstream(nc);
  const deadLetter = (seq: string, body: string) => {
    const h = natsHeaders();
    h.set(HEADERS.reason, "schema: temperature: expected a number");
    h.set(HEADERS.errorCode, "schema");
    h.set(HEADERS.actor, "validate");
    h.set(HEADERS.originalSubject, "raw.iot.s-1");
    h.set(HEADERS.originalStream, "RAW");
    h.set(HEADERS.streamSequence, seq);
    h.set(HEADERS.deliveries, "1");
    h.set(HEADERS.failedAt, new Date(T0).toISOString());
    return js.publish("dlq.validate.iot", body, { headers: h });
  };
  const unmappable = await deadLetter("not-a-sequence", `{"sensor_id":"s-1","temperature":"hot"}`);
  await deadLetter("42", `{"sensor_id":"s-1","temperature":"cold"}`);
  const dlqBefore = (await jsm.streams.info("DLQ")).state.messages;

  const actor = sinkActors({ maxRows: 5_000, maxWaitMs: 200 })["clickhouse-sink-dlq"]();
  const stored = await runUntil(nc, ch, actor, async () => (await scalar(ch, "SELECT count() FROM sluice.dead_letters WHERE stream_seq = 42")) === 1 && (await consumerSettled(jsm, "DLQ", "clickhouse-sink-dlq")));
  assert.ok(stored, "the storable dead letter reached sluice.dead_letters and every DLQ message was acked");
  assert.is((await jsm.streams.info("DLQ")).state.messages, dlqBefore, "the DLQ stream gained no message");
  const diverted = await jsm.streams.getMessage("DLQ_SINK", { last_by_subj: "dlq-sink.validate.iot" });
  assert.ok(diverted, "the unstorable dead letter is on dlq-sink.validate.iot");
  assert.is(diverted!.header.get(HEADERS.errorCode), "decode");
  assert.match(diverted!.header.get(HEADERS.reason), /stream_seq: expected a whole number/);
  assert.is(diverted!.header.get(HEADERS.actor), "clickhouse-sink-dlq");
  assert.is(diverted!.header.get(HEADERS.originalStream), "DLQ");
  assert.is(diverted!.header.get(HEADERS.streamSequence), String(unmappable.seq), "points at the dead letter on DLQ");
  assert.is(new TextDecoder().decode(diverted!.data), `{"sensor_id":"s-1","temperature":"hot"}`, "the body travels unchanged");
  const big = { subject: "dlq.validate.iot", stream: "DLQ", seq: 7, deliveries: 1, timestampMs: T0, headers: new Map([[HEADERS.reason, "x"]]), data: new Uint8Array(4_000), traceId: "" };
  const cut = unstorableDeadLetter(big, new PoisonError("decode", "a reason far longer than the one the dead letter had ".repeat(10)), 2_000);
  assert.ok(wireSize(cut) <= 2_000, "a diverted dead letter fits the server's max_payload, so the runtime never turns it into a DLQ message");
  assert.is(cut.headers?.[HEADERS.truncated], "4000");
});

test("a payment alert with an open expected range (expected_high Infinity, null in JSON) lands as a row with +inf", async ({ nc, jsm, ch }) => {
  const alert: Alert = {
    event_id: "txn-velocity-1", source: "txn", key: "cust-1", metric: "amount", score: 0.91, severity: "high", signal: "velocity",
    explanation: { payments: 5 }, expected_low: 42.5, expected_high: Infinity, observed: 3.2, event_time: T0, detected_at: T0 + 5, trace_id: "",
  };
  const message = alertMessage(alert, "sink-test");
  assert.match(message.data, /"expected_high":null/, "JSON carries the open bound as null");
  await jetstream(nc).publish(message.subject, message.data, { msgID: message.msgId });
  const actor = anomaliesSinkActor({ maxRows: 100, maxWaitMs: 200 });
  const landed = await runUntil(nc, ch, actor, async () => (await scalar(ch, "SELECT count() FROM sluice.anomalies WHERE event_id = 'txn-velocity-1'")) === 1);
  assert.ok(landed, "the alert is a row, not a dead letter");
  assert.is(await scalar(ch, "SELECT isInfinite(expected_high) AND expected_high > 0 FROM sluice.anomalies WHERE event_id = 'txn-velocity-1'"), 1);
  assert.is(await scalar(ch, "SELECT expected_low FROM sluice.anomalies WHERE event_id = 'txn-velocity-1'"), 42.5);
  assert.is(metricsFor("clickhouse-sink-anomalies").deadLettered, 0);
  assert.ok(await consumerSettled(jsm, "ALERTS", "clickhouse-sink-anomalies"));
});

test.run();
