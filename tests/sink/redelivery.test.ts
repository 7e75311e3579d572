import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { migrate, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import type { IdentifiedTable } from "../../clickhouse/schema.ts";
import { withoutStored } from "../../actors/sink/stored.ts";
import type { PendingRow } from "../../actors/sink/insert-errors.ts";
import type { Inbound } from "../../actors/runtime/actor.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { clickhouseServices, identityCases, lostResponse, sinkDiesBetweenInsertAndAck, watchedClient } from "./identity-rows.ts";
import { jetstream } from "@nats-io/jetstream";
import { LATE_SINK_CONSUMER, lateSinkActor } from "../../actors/window/late-sink.ts";
import type { LateMessage } from "../../actors/window/outputs.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { waitFor } from "../harness/wait.ts";

interface Ctx {
  nats: NatsServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  ch: OpenClickHouse;
  dataDir: string;
}

const test = suite<Ctx>("sinks store a redelivered row once, without FINAL (nats-server and chDB)");
const log = createLogger("error");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.jsm = await jetstreamManager(ctx.nc);
  await ensureStreams(ctx.jsm);
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-redelivery-chdb-"));
  ctx.ch = await openClickHouse({ dataDir: ctx.dataDir, logger: { info() {}, warn() {} } });
  await migrate(ctx.ch.client, ctx.ch.caps);
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.ch?.close();
  await ctx.nats?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

function inbound(seq: number, deliveries: number): Inbound {
  return { subject: "t", stream: "T", seq, deliveries, timestampMs: 0, headers: new Map(), data: new Uint8Array(), traceId: "" };
}

test("a sink killed after its INSERT and before its acks stores each row once after the restart", async ({ nc, jsm, ch }) => {
  const n = 30;
  const out = await sinkDiesBetweenInsertAndAck({ nc, jsm, client: ch.client, caps: ch.caps }, { source: "iot", durable: "test-sink-crash", n, mode: "crash" });
  assert.ok(out.settled, "the restarted sink acked every redelivered message");
  assert.is(out.rows, n, `count() without FINAL: ${out.rows} rows for ${n} messages (${out.rows - n} stored twice)`);
  assert.is(out.distinct, n, "one row per (source, key, event_id)");
  assert.is(out.firstRunQueries, 0, "first deliveries issued no lookup");
  assert.ok(out.secondRunQueries >= 1, "the redelivered batch was looked up");
});

test("a batch whose INSERT committed but whose answer was lost is retried by the same sink without a second copy", async ({ nc, jsm, ch }) => {
  const n = 20;
  const out = await sinkDiesBetweenInsertAndAck({ nc, jsm, client: ch.client, caps: ch.caps }, { source: "social", durable: "test-sink-lost-answer", n, mode: "lost-response" });
  assert.ok(out.settled, "the held batch was acked after its retry");
  assert.is(out.rows, n, `count() without FINAL: ${out.rows} rows for ${n} messages`);
  assert.is(out.distinct, n);
  assert.ok(out.firstRunQueries >= 1, "the retry of an attempt that failed after sending looked up what was stored");
});

test("every sink table's identity: only redelivered rows already stored are left out, first deliveries are not looked up", async ({ ch }) => {
  const cases = identityCases(ch.caps, "chdb");
  for (const name of Object.keys(cases) as IdentifiedTable[]) {
    const c = cases[name];
    await c.insert(ch.client, [0, 1, 2, 3].map((i) => c.row(i)));
    // Even i redelivered, odd i first deliveries; 0..3 are stored, 4..7 are not.
    const items: PendingRow<Record<string, unknown>>[] = Array.from({ length: 8 }, (_, i) => ({ input: inbound(i, i % 2 === 0 ? 2 : 1), row: c.row(i) }));
    const watch = watchedClient(ch.client);
    const kept = await withoutStored(items, { client: watch.client, table: c.table, identity: c.identity, uncertain: () => false, log });
    assert.equal(kept.map((k) => k.input.seq), [1, 3, 4, 5, 6, 7], `${c.table} (${c.identity.join(", ")}): rows 0 and 2 are redelivered and stored`);
    assert.is(watch.queries(), 1, `${c.table}: one lookup for four redelivered rows`);

    const firsts = items.map((i) => ({ ...i, input: inbound(i.input.seq, 1) }));
    const quiet = watchedClient(ch.client);
    assert.is((await withoutStored(firsts, { client: quiet.client, table: c.table, identity: c.identity, uncertain: () => false, log })).length, 8);
    assert.is(quiet.queries(), 0, `${c.table}: a batch of first deliveries issues no lookup`);
  }
});

test("a lookup ClickHouse cannot answer now holds the batch (RetryableError); one it refuses for good inserts every row", async ({ ch }) => {
  const c = identityCases(ch.caps, "chdb-fail").events;
  const items = [{ input: inbound(1, 2), row: c.row(1) }];
  const down = new Proxy(ch.client, { get: (t, p) => (p === "query" ? () => Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })) : Reflect.get(t, p, t)) });
  const err = await withoutStored(items, { client: down, table: c.table, identity: c.identity, uncertain: () => false, log }).catch((e: unknown) => e);
  assert.instance(err, Error);
  assert.is((err as Error).name, "RetryableError");
  assert.match((err as Error).message, /sluice\.events: looking up which of 1 redelivered rows are already stored failed \(transient ECONNREFUSED\)/);
  assert.not.match((err as Error).message, /chdb-fail/, "the message quotes no row value");
  // A column the table does not have: a lookup ClickHouse refuses whatever the moment.
  const ghost = [{ input: inbound(1, 2), row: { ...c.row(1), ghost: "x" } }];
  const kept = await withoutStored(ghost, { client: ch.client, table: c.table, identity: ["source", "ghost"], uncertain: () => false, log });
  assert.is(kept.length, 1, "a lookup refused for good does not wedge the sink");
});

test("the late-events sink retrying a batch whose INSERT answer was lost stores each late event once", async ({ nc, jsm, ch }) => {
  const n = 6;
  const js = jetstream(nc);
  const T = Date.UTC(2020, 0, 1, 12);
  for (let i = 0; i < n; i++) {
    const m: LateMessage = { type: "late", late_id: `late-redelivery-${i}`, task: "t", reason: "after_close", source: "iot", event_id: `late-redelivery-${i}`, event_time: T + i, partition: 0, watermark: T + 60_000, allowed_lateness_ms: 0, windows: [], event: { key: "k", payload: {} } };
    await js.publish("late.iot", JSON.stringify(m), { msgID: m.late_id });
  }
  const watch = watchedClient(ch.client);
  watch.afterInsert = () => {
    watch.afterInsert = undefined;
    throw lostResponse();
  };
  const controller = new AbortController();
  const running = runActor(lateSinkActor({ maxRows: 1_000, maxWaitMs: 200 }), { nc, log, signal: controller.signal, services: clickhouseServices(watch.client, ch.caps) });
  const settled = await waitFor(async () => {
    const info = await jsm.consumers.info("LATE", LATE_SINK_CONSUMER.durable_name);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, Boolean, 20_000, 100);
  controller.abort();
  await running;
  assert.ok(settled, "every late message acked after the retry");
  const rs = await ch.client.query({ query: "SELECT count() AS rows, uniqExact(source, late_id) AS ids FROM sluice.late_events WHERE late_id LIKE 'late-redelivery-%'", format: "JSONEachRow" });
  const [{ rows, ids }] = (await rs.json()) as Array<{ rows: string; ids: string }>;
  assert.is(Number(ids), n);
  assert.is(Number(rows), n, `count() without FINAL: ${rows} rows for ${n} late events`);
  assert.ok(watch.queries() >= 1, "the retry looked up what the lost attempt stored");
});

test.run();
