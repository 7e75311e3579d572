import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { eventRow, migrate, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import { sinkActor } from "../../actors/sink/sink.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { HEADERS, seconds } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { createValidator } from "../../actors/validate/validate.ts";
import { clickhouseServices } from "./identity-rows.ts";
import { waitFor } from "../harness/wait.ts";

interface Ctx {
  nats: NatsServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  ch: OpenClickHouse;
  dataDir: string;
}

const test = suite<Ctx>("a replayed event that comes back after EVENTS' duplicate window is stored once, without FINAL");
const log = createLogger("error");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.jsm = await jetstreamManager(ctx.nc);
  await ensureStreams(ctx.jsm);
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-replayed-chdb-"));
  ctx.ch = await openClickHouse({ dataDir: ctx.dataDir, logger: { info() {}, warn() {} } });
  await migrate(ctx.ch.client, ctx.ch.caps);
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.ch?.close();
  await ctx.nats?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

async function count(ch: OpenClickHouse, source: string, what: string): Promise<number> {
  const rs = await ch.client.query({ query: `SELECT ${what} AS n FROM sluice.events WHERE source = '${source}'`, format: "JSONEachRow" });
  const [row] = (await rs.json()) as Array<{ n: string | number }>;
  return Number(row.n);
}

/**
 * The event is stored, then arrives again as a first delivery (JetStream's duplicate window has
 * passed, so its id no longer stops it): with the replay header the sink looks it up, without it
 * (the control) it is a second row until a merge.
 */
async function storedTwice(ctx: Ctx, source: "iot" | "social", replayHeader: boolean): Promise<{ rows: number; distinct: number }> {
  const durable = `replayed-${source}`;
  const js = jetstream(ctx.nc);
  const T = Date.UTC(2020, 0, 1, 12);
  const envelopes: Envelope[] = Array.from({ length: 5 }, (_, i) => ({ event_id: `r-${i}`, source, key: `k-${i}`, schema_version: 1, event_time: T + i * 1000, ingest_time: T, payload: { i }, raw_subject: `raw.${source}.k-${i}`, raw_seq: i + 1 }));
  for (const e of envelopes) await js.publish(`events.${source}.0`, JSON.stringify(e), { msgID: `first-${source}-${e.event_id}` });
  const sink = sinkActor({
    name: durable,
    consumes: { stream: "EVENTS", durable_name: durable, filter_subject: `events.${source}.>`, ack_policy: "explicit", deliver_policy: "all", ack_wait: seconds(5), max_deliver: -1, max_ack_pending: 10_000 },
    table: "events",
    maxRows: 5_000,
    maxWaitMs: 100,
    toRow: (input, caps) => eventRow(JSON.parse(new TextDecoder().decode(input.data)) as Envelope, input.traceId, caps),
  });
  const stop = new AbortController();
  const running = runActor(sink, { nc: ctx.nc, log, signal: stop.signal, services: clickhouseServices(ctx.ch.client, ctx.ch.caps) });
  await waitFor(() => count(ctx.ch, source, "count()"), (c) => c >= envelopes.length, 20_000, 100);
  for (const e of envelopes) {
    const h = natsHeaders();
    if (replayHeader) h.set(HEADERS.replayCount, "1");
    // Another msg id: what JetStream sees once the first one has left its duplicate window.
    await js.publish(`events.${source}.0`, JSON.stringify(e), { msgID: `again-${source}-${e.event_id}`, headers: h });
  }
  const settled = await waitFor(async () => {
    const info = await ctx.jsm.consumers.info("EVENTS", durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, Boolean, 20_000, 100);
  assert.ok(settled, "the sink acked the second copies");
  // The control's second copies may still be in flight to ClickHouse after the acks: acks follow inserts, so no wait is needed.
  stop.abort();
  await running;
  return { rows: await count(ctx.ch, source, "count()"), distinct: await count(ctx.ch, source, "uniqExact(event_id)") };
}

test("with Sluice-Replay-Count the second copy is looked up and left out", async (ctx) => {
  const out = await storedTwice(ctx, "iot", true);
  assert.is(out.distinct, 5);
  assert.is(out.rows, 5, `count() without FINAL: ${out.rows} rows for 5 events`);
});

test("control: a first delivery without the header is not looked up, so the copy is a second row until a merge", async (ctx) => {
  const out = await storedTwice(ctx, "social", false);
  assert.is(out.distinct, 5);
  assert.is(out.rows, 10, "first deliveries cost no lookup (which is why validate passes the replay header on)");
});

test("validate passes a replayed message's Sluice-Replay-Count on to its EVENTS output", () => {
  const validate = createValidator({ partitions: 4 });
  const payload = { sensor_id: "s-1", ts: "2026-12-01T10:00:00Z", temperature: 20.5 };
  const input = (replays?: string) => ({ subject: "raw.iot.s-1", stream: "RAW", seq: 7, deliveries: 1, timestampMs: Date.parse("2026-12-01T10:00:01Z"), headers: new Map(replays ? [[HEADERS.replayCount, replays]] : []), data: new TextEncoder().encode(JSON.stringify(payload)), traceId: "" });
  const replayed = validate(input("2"));
  const first = validate(input());
  assert.ok(replayed.ok && first.ok, `both valid: ${JSON.stringify([replayed, first].map((r) => (r.ok ? "ok" : r.error.message)))}`);
  if (!replayed.ok || !first.ok) return;
  assert.equal(replayed.out.headers, { [HEADERS.replayCount]: "2" });
  assert.is(first.out.headers, undefined);
  assert.is(replayed.out.msgId, first.out.msgId, "the same event id either way");
});

test.run();
