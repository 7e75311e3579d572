import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { SchemaRegistry } from "../../subjects/registry/index.ts";
import { listDeadLetters, replayDeadLetters } from "../../api/dlq.ts";

const v3 = JSON.parse(readFileSync(new URL("../fixtures/registry/iot.v3.json", import.meta.url), "utf8")) as Record<string, unknown>;
const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline; registry: SchemaRegistry }>("schema evolution through the pipeline on chDB");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { actors: ["validate", "clickhouse-sink-events", "clickhouse-sink-dlq"], env: { SLUICE_SINK_BATCH_MS: "100" } });
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.registry = await SchemaRegistry.open(ctx.nc);
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
});

function publish(nc: NatsConnection, key: string, body: Record<string, unknown>, version?: string, msgId?: string): void {
  const h = natsHeaders();
  if (version) h.set("Sluice-Schema-Version", version);
  if (msgId) h.set("Nats-Msg-Id", msgId);
  nc.publish(`raw.iot.${key}`, JSON.stringify({ sensor_id: key, ts: new Date().toISOString(), ...body }), { headers: h });
}

test("v1 fields have typed columns from migration 100, and the sink fills them", async ({ nc, pipeline }) => {
  publish(nc, "col-1", { temperature: 21.5, humidity: 40, site: "lab" });
  await nc.flush();
  const rows = await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events FINAL WHERE key = 'col-1'"), (n) => n >= 1, 20_000);
  assert.is(rows, 1);
  assert.is(await pipeline.scalar("SELECT iot__temperature FROM sluice.events FINAL WHERE key = 'col-1'"), 21.5);
  assert.is(await pipeline.scalar("SELECT countIf(iot__site = 'lab' AND isNull(txn__amount)) FROM sluice.events FINAL WHERE key = 'col-1'"), 1);
});

test("a compatible v3 registered while the pipeline runs is used within 5 s", async ({ nc, registry }) => {
  const { version } = await registry.add("iot", v3);
  assert.is(version, 3);
  const registeredAt = Date.now();
  let acceptedAfter = -1;
  for (let i = 0; acceptedAfter < 0 && Date.now() - registeredAt < 10_000; i++) {
    const before = { events: await streamCount(nc, "EVENTS"), dlq: await streamCount(nc, "DLQ") };
    publish(nc, "probe", { temperature: 1, firmware: "2.0.1" }, "3", `probe-${i}`);
    await nc.flush();
    const after = await waitFor(async () => ({ events: await streamCount(nc, "EVENTS"), dlq: await streamCount(nc, "DLQ") }), (a) => a.events + a.dlq > before.events + before.dlq, 5_000, 20);
    if (after.events > before.events) acceptedAfter = Date.now() - registeredAt;
  }
  assert.ok(acceptedAfter >= 0 && acceptedAfter < 5_000, `v3 messages accepted ${acceptedAfter} ms after registering`);
});

test("v1 and v3 messages published together land in the current shape, the new columns filled for v3", async ({ nc, pipeline }) => {
  const column = await waitFor(() => pipeline.scalar("SELECT count() FROM system.columns WHERE database = 'sluice' AND table = 'events' AND name IN ('iot__firmware', 'iot__rssi')"), (n) => n === 2, 10_000);
  assert.is(column, 2, "ALTER TABLE added iot__firmware and iot__rssi while running");
  for (let i = 0; i < 10; i++) {
    publish(nc, `evo-a${i}`, { temperature: 20 + i }, "1");
    publish(nc, `evo-b${i}`, { temperature: 20 + i, schema_version: 1 });
    publish(nc, `evo-c${i}`, { temperature: 20 + i, firmware: `fw-${i}`, rssi: -40 - i }, "3");
    publish(nc, `evo-d${i}`, { temperature: 20 + i, firmware: `fw-${i}` });
  }
  await nc.flush();
  const rows = await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events FINAL WHERE key LIKE 'evo-%'"), (n) => n >= 40, 30_000);
  assert.is(rows, 40);
  const q = (where: string) => pipeline.scalar(`SELECT count() FROM sluice.events FINAL WHERE key LIKE 'evo-%' AND ${where}`);
  assert.is(await q("schema_version = 1"), 20, "v1 by header and by payload field");
  assert.is(await q("schema_version = 3"), 20, "v3 stated and v3 by default");
  assert.is(await q("isNotNull(iot__temperature)"), 40);
  assert.is(await q("isNotNull(iot__firmware)"), 20, "firmware only where v3 producers sent it");
  assert.is(await q("schema_version = 1 AND isNull(iot__firmware)"), 20);
  assert.is(await q("iot__rssi < 0"), 10);
  assert.is(await q("payload LIKE '%schema_version%'"), 0, "the stated version lives in the envelope, not the payload");
});

test("an unknown version is a dead letter with code unknown_schema_version", async ({ nc, pipeline }) => {
  publish(nc, "evo-x", { temperature: 1 }, "9");
  await nc.flush();
  const dead = await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.dead_letters FINAL WHERE error_code = 'unknown_schema_version' AND subject = 'raw.iot.evo-x'"), (n) => n >= 1, 20_000);
  assert.is(dead, 1);
});

test("dead letters replayed after a fixing schema is registered become events exactly once", async ({ nc, pipeline, registry }) => {
  // humidity above 100 breaks every registered version: three readings are dead-lettered.
  for (let i = 0; i < 3; i++) publish(nc, `fix-${i}`, { humidity: 120 + i });
  await nc.flush();
  const rejected = await waitFor(() => listDeadLetters(nc, { source: "iot", reason: "humidity" }), (l) => l.filter((d) => d.originalSubject.startsWith("raw.iot.fix-")).length === 3, 20_000);
  const mine = rejected.filter((d) => d.originalSubject.startsWith("raw.iot.fix-"));
  assert.is(mine.length, 3);

  // The fix: a v4 that accepts humidity readings above 100 (supersaturated sensors).
  const v4 = structuredClone(v3) as { properties: Record<string, Record<string, unknown>> };
  delete v4.properties.humidity.maximum;
  const { version } = await registry.add("iot", v4);
  assert.is(version, 4);
  // validate learns of v4 through its registry watch (documented: within 5 s).
  const known = await waitFor(async () => {
    publish(nc, "v4-probe", { humidity: 130 }, "4", `v4-probe-${Date.now()}`);
    await nc.flush();
    return waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events FINAL WHERE key = 'v4-probe'"), (n) => n >= 1, 1_000, 100);
  }, (n) => n >= 1, 10_000, 0);
  assert.ok(known >= 1, "validate accepts v4 readings");

  await replayDeadLetters(nc, mine);
  await replayDeadLetters(nc, mine);
  const landed = await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events FINAL WHERE key LIKE 'fix-%'"), (n) => n >= 3, 30_000);
  assert.is(landed, 3);
  await new Promise((r) => setTimeout(r, 1_500));
  assert.is(await pipeline.scalar("SELECT count() FROM sluice.events FINAL WHERE key LIKE 'fix-%'"), 3, "replaying twice created no duplicate");
  assert.is(await pipeline.scalar("SELECT count() FROM sluice.events WHERE key LIKE 'fix-%' AND schema_version = 4"), 3);
});

test.run();
