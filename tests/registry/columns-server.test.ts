import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventRow, insertRows, migrate, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import { addColumnStatement, columnTypeOf, EventColumns, typedColumnsOf } from "../../clickhouse/columns.ts";
import { SCHEMAS_V1 } from "../../subjects/schemas/index.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";

const v2 = JSON.parse(readFileSync(new URL("../fixtures/registry/iot.v3.json", import.meta.url), "utf8")) as Record<string, unknown>;
const unusedDataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
let server: ClickHouseServer;
let ch: OpenClickHouse;

test.before(async () => {
  server = await ClickHouseServer.start();
  ch = await openClickHouse({ url: server.url, dataDir: unusedDataDir });
});

test.after(async () => {
  await ch?.close();
  await server?.stop();
  rmSync(unusedDataDir, { recursive: true, force: true });
});

async function columns(): Promise<Record<string, string>> {
  const rs = await ch.client.query({ query: "SELECT name, type FROM system.columns WHERE database = 'sluice' AND table = 'events'", format: "JSONEachRow" });
  return Object.fromEntries((await rs.json<{ name: string; type: string }>()).map((r) => [r.name, r.type]));
}

test("column types follow the schema; pii, ts and event_id get none", () => {
  assert.is(columnTypeOf({ type: "integer" }), "Int64");
  assert.is(columnTypeOf({ type: "number" }), "Float64");
  assert.is(columnTypeOf({ type: ["integer", "number"] }), "Float64");
  assert.is(columnTypeOf({ type: "string", enum: ["a"] }), "String");
  assert.is(columnTypeOf({ type: "boolean" }), "UInt8");
  assert.is(columnTypeOf({ type: "object" }), undefined);
  const txn = typedColumnsOf("txn", SCHEMAS_V1.txn).map((c) => c.name);
  assert.ok(txn.includes("txn__amount") && !txn.includes("txn__card_number") && !txn.includes("txn__email") && !txn.includes("txn__ts"), txn.join(","));
  assert.is(addColumnStatement({ name: "iot__x", source: "iot", field: "x", type: "Int64" }, { dateTime64: false }), "ALTER TABLE sluice.events ADD COLUMN iot__x Nullable(Int64)");
  assert.is(addColumnStatement({ name: "iot__x", source: "iot", field: "x", type: "Int64" }, { dateTime64: true }), "ALTER TABLE sluice.events ADD COLUMN IF NOT EXISTS iot__x Nullable(Int64)");
});

test("on 18.16, migration 100 is recorded without an ALTER that could not run twice; the sink's start adds the v1 columns, twice without error", async () => {
  const first = await migrate(ch.client, ch.caps);
  assert.ok(first.applied.includes(100));
  assert.is((await columns()).iot__temperature, undefined);
  const sink = new EventColumns(ch.client, ch.caps);
  await sink.load();
  for (const [source, schema] of Object.entries(SCHEMAS_V1)) await sink.ensure(source, schema);
  for (const [source, schema] of Object.entries(SCHEMAS_V1)) assert.equal(await sink.ensure(source, schema), [], `${source} again`);
  const cols = await columns();
  assert.is(cols.iot__temperature, "Nullable(Float64)");
  assert.is(cols.social__likes, "Nullable(Int64)");
  assert.is(cols.txn__channel, "Nullable(String)");
  assert.equal((await migrate(ch.client, ch.caps)).applied, []);
});

test("on 18.16, a new version's fields are added while running, twice and from a stale process without error, and filled", async () => {
  const a = new EventColumns(ch.client, ch.caps);
  const stale = new EventColumns(ch.client, ch.caps);
  await a.load();
  await stale.load();
  assert.equal(await a.ensure("iot", v2), ["iot__firmware", "iot__rssi"]);
  assert.equal(await a.ensure("iot", v2), []);
  assert.equal(await stale.ensure("iot", v2), [], "another process added them meanwhile: no error, nothing new");
  const cols = await columns();
  assert.is(cols.iot__firmware, "Nullable(String)");
  assert.is(cols.iot__rssi, "Nullable(Int64)");

  const base = { source: "iot", key: "s1", event_time: Date.UTC(2026, 10, 27, 10), ingest_time: Date.UTC(2026, 10, 27, 10), raw_subject: "raw.iot.s1", raw_seq: 1 } as const;
  const envelopes: Envelope[] = [
    { ...base, event_id: "e1", schema_version: 1, payload: { sensor_id: "s1", ts: 1, temperature: 20.5 } },
    { ...base, event_id: "e2", schema_version: 2, payload: { sensor_id: "s1", ts: 1, temperature: 21, firmware: "2.1", rssi: -60 } },
    { ...base, event_id: "e3", schema_version: 2, payload: { sensor_id: "s1", ts: 1, temperature: "hot?", rssi: 1.5 } },
  ];
  await insertRows(ch.client, "events", envelopes.map((e) => ({ ...eventRow(e, "", ch.caps), ...a.values(e) })), a.names());
  const rs = await ch.client.query({ query: "SELECT event_id, iot__temperature AS t, iot__firmware AS f, iot__rssi AS r FROM sluice.events ORDER BY event_id", format: "JSONEachRow" });
  const rows = await rs.json<{ event_id: string; t: number | null; f: string | null; r: number | string | null }>();
  assert.equal(rows.map((r) => [r.event_id, r.t, r.f, r.r === null ? null : Number(r.r)]), [
    ["e1", 20.5, null, null],
    ["e2", 21, "2.1", -60],
    ["e3", null, null, null],
  ], "values that do not fit the column are NULL (the payload keeps them)");
});

test.run();
