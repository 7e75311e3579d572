import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { migrate, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import type { IdentifiedTable } from "../../clickhouse/schema.ts";
import { withoutStored } from "../../actors/sink/stored.ts";
import type { Inbound } from "../../actors/runtime/actor.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { identityCases, sinkDiesBetweenInsertAndAck, watchedClient } from "./identity-rows.ts";

interface Ctx {
  server: ClickHouseServer;
  nats: NatsServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  ch: OpenClickHouse;
  dataDir: string;
}

const test = suite<Ctx>("sinks store a redelivered row once, without FINAL (clickhouse-server 18.16)");
const log = createLogger("error");

test.before(async (ctx) => {
  ctx.server = await ClickHouseServer.start();
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.jsm = await jetstreamManager(ctx.nc);
  await ensureStreams(ctx.jsm);
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
  ctx.ch = await openClickHouse({ url: ctx.server.url, dataDir: ctx.dataDir, logger: { info() {}, warn() {} } });
  await migrate(ctx.ch.client, ctx.ch.caps);
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.ch?.close();
  await ctx.nats?.stop();
  await ctx.server?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

function inbound(seq: number, deliveries: number): Inbound {
  return { subject: "t", stream: "T", seq, deliveries, timestampMs: 0, headers: new Map(), data: new Uint8Array(), traceId: "" };
}

test("18.16: a sink killed after its INSERT and before its acks stores each row once after the restart", async ({ nc, jsm, ch }) => {
  const n = 25;
  const out = await sinkDiesBetweenInsertAndAck({ nc, jsm, client: ch.client, caps: ch.caps }, { source: "iot", durable: "test-sink-crash-1816", n, mode: "crash" });
  assert.ok(out.settled, "the restarted sink acked every redelivered message");
  assert.is(out.rows, n, `count() without FINAL: ${out.rows} rows for ${n} messages (${out.rows - n} stored twice)`);
  assert.is(out.distinct, n);
  assert.is(out.firstRunQueries, 0, "first deliveries issued no lookup");
  assert.ok(out.secondRunQueries >= 1, "the redelivered batch was looked up");
});

test("18.16: every sink table's identity finds the stored redelivered rows (inline literals, DateTime and String columns)", async ({ ch }) => {
  const cases = identityCases(ch.caps, "srv");
  for (const name of Object.keys(cases) as IdentifiedTable[]) {
    const c = cases[name];
    await c.insert(ch.client, [0, 1, 2, 3].map((i) => c.row(i)));
    const items = Array.from({ length: 8 }, (_, i) => ({ input: inbound(i, i % 2 === 0 ? 2 : 1), row: c.row(i) }));
    const watch = watchedClient(ch.client);
    const kept = await withoutStored(items, { client: watch.client, table: c.table, identity: c.identity, uncertain: () => false, log });
    assert.equal(kept.map((k) => k.input.seq), [1, 3, 4, 5, 6, 7], `${c.table} (${c.identity.join(", ")}): rows 0 and 2 are redelivered and stored`);
    assert.is(watch.queries(), 1, `${c.table}: one lookup`);
  }
});

test.run();
