import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { anomalyRow, classifyInsertFailure, describeInsertFailure, eventRow, insertRows, migrate, openClickHouse, type EventsInsertRow, type InsertFailure, type OpenClickHouse } from "../../clickhouse/index.ts";
import { insertIsolating, type PendingRow } from "../../actors/sink/insert-errors.ts";
import type { Inbound } from "../../actors/runtime/actor.ts";

const test = suite<{ server: ClickHouseServer; ch: OpenClickHouse; dataDir: string }>("insert failures on clickhouse-server 18.16");
const T0 = Date.UTC(2020, 0, 1, 12);

test.before(async (ctx) => {
  ctx.server = await ClickHouseServer.start();
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
  ctx.ch = await openClickHouse({ url: ctx.server.url, dataDir: ctx.dataDir, logger: { info() {}, warn() {} } });
  await migrate(ctx.ch.client, ctx.ch.caps);
});

test.after(async (ctx) => {
  await ctx.ch?.close();
  await ctx.server?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

async function scalar(ch: OpenClickHouse, sql: string): Promise<number> {
  const rs = await ch.client.query({ query: sql, format: "JSONEachRow" });
  return Number(Object.values(((await rs.json()) as Array<Record<string, unknown>>)[0] ?? { v: 0 })[0]);
}

function row(ch: OpenClickHouse, i: number): EventsInsertRow {
  return eventRow({ event_id: `srv-${i}`, source: "iot", key: "k", schema_version: 1, event_time: T0 + i * 1000, ingest_time: T0, payload: { i }, raw_subject: "raw.iot.k", raw_seq: i + 1 }, "", ch.caps);
}

async function failure(work: Promise<unknown>): Promise<{ failure: InsertFailure; text: string }> {
  try {
    await work;
  } catch (err) {
    return { failure: classifyInsertFailure(err), text: describeInsertFailure(err) };
  }
  throw new Error("expected the statement to fail");
}

test("a value a column refuses is a data error naming the column, not the value", async ({ ch }) => {
  const { failure: f, text } = await failure(insertRows(ch.client, "events", [row(ch, 1), { ...row(ch, 2), raw_seq: -1 }]));
  assert.equal([f.kind, f.code], ["data", 72]);
  assert.match(text, /^code 72 CANNOT_PARSE_NUMBER, column raw_seq: /);
  assert.is(await scalar(ch, "SELECT count() FROM sluice.events WHERE event_id IN ('srv-1', 'srv-2')"), 0, "a refused insert stores nothing");
});

test("bisection stores every good row once and hands over only the bad one", async ({ ch }) => {
  const items: Array<PendingRow<EventsInsertRow>> = Array.from({ length: 20 }, (_, i) => ({
    input: { subject: "events.iot.0", stream: "EVENTS", seq: 100 + i, deliveries: 1, timestampMs: T0, headers: new Map(), data: new Uint8Array(), traceId: "" } satisfies Inbound,
    row: i === 13 ? { ...row(ch, 100 + i), raw_seq: -1 } : row(ch, 100 + i),
  }));
  const alone: Array<[number, string]> = [];
  let stored = 0;
  await insertIsolating(items, {
    table: "sluice.events",
    insert: (rows) => insertRows(ch.client, "events", rows),
    partitionOf: () => "one",
    inserted: (done) => void (stored += done.length),
    failedAlone: (item, f) => void alone.push([item.input.seq, f.kind]),
  });
  assert.equal(alone, [[113, "data"]]);
  assert.is(stored, 19);
  assert.is(await scalar(ch, "SELECT count() FROM sluice.events WHERE event_id LIKE 'srv-1__'"), 19, "each good row once, without FINAL");
});

test("too many parts (merges behind) is transient on 18.16, not a partition split", async ({ ch }) => {
  await ch.client.command({ query: "CREATE TABLE default.tp (x UInt64) ENGINE = MergeTree ORDER BY x SETTINGS parts_to_throw_insert = 1, parts_to_delay_insert = 1" });
  await ch.client.command({ query: "SYSTEM STOP MERGES default.tp" });
  await ch.client.command({ query: "INSERT INTO default.tp VALUES (1)" });
  const { failure: f } = await failure(ch.client.command({ query: "INSERT INTO default.tp VALUES (2)" }));
  assert.equal([f.kind, f.code], ["transient", 252]);
});

test("a missing table and a query timeout are transient", async ({ ch }) => {
  assert.equal((await failure(ch.client.insert({ table: "sluice.not_migrated", values: [{ a: 1 }], format: "JSONEachRow" }))).failure.kind, "transient");
  const timeout = await failure(ch.client.command({ query: "SELECT sleep(2) FROM numbers(3) SETTINGS max_execution_time = 1, max_block_size = 1" }));
  assert.equal([timeout.failure.kind, timeout.failure.code], ["transient", 159]);
});

test("an alert with an open expected range is a row with +inf on 18.16", async ({ ch }) => {
  const wire = JSON.parse(JSON.stringify({
    event_id: "srv-velocity", source: "txn", key: "c-1", metric: "amount", score: 0.9, severity: "high", signal: "velocity",
    explanation: {}, expected_low: 1.5, expected_high: Infinity, observed: 0.2, event_time: T0, detected_at: T0,
  }));
  assert.is(wire.expected_high, null);
  await insertRows(ch.client, "anomalies", [anomalyRow(wire, "", ch.caps)]);
  assert.is(await scalar(ch, "SELECT isInfinite(expected_high) AND expected_high > 0 FROM sluice.anomalies WHERE event_id = 'srv-velocity'"), 1);
});

test("a stopped server is transient (connection refused)", async ({ server, ch }) => {
  await server.kill("SIGKILL");
  const { failure: f } = await failure(insertRows(ch.client, "events", [row(ch, 999)]));
  assert.equal([f.kind, f.name], ["transient", "ECONNREFUSED"]);
});

test.run();
