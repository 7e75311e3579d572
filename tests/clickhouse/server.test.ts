import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  MIGRATIONS,
  ClickHouseQueryError,
  ClickHouseUnavailableError,
  eventRow,
  insertRows,
  migrate,
  openClickHouse,
  runQuery,
  type OpenClickHouse,
} from "../../clickhouse/index.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { captureLog, envelopes, migrationsAreIdempotent, replacingDedup, rowsRoundTrip } from "./scenarios.ts";

const unusedDataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
const log = captureLog();
let server: ClickHouseServer;
let ch: OpenClickHouse;

test.before(async () => {
  server = await ClickHouseServer.start();
  ch = await openClickHouse({ url: server.url, dataDir: unusedDataDir, logger: log.logger });
});

test.after(async () => {
  await ch?.close();
  await server?.stop();
  rmSync(unusedDataDir, { recursive: true, force: true });
});

test("clickhouse-server 18.16 has none of the modern features and says so once each", () => {
  assert.is(ch.kind, "server");
  assert.is(ch.target, server.url);
  assert.equal(ch.caps, { version: "18.16.1", lowCardinality: false, codecs: false, ttl: false, dateTime64: false, queryParams: false });
  assert.is(log.warn.length, 5, log.warn.join("\n"));
  assert.ok(log.warn.includes(
    "clickhouse 18.16.1: no DateTime64, using DateTime (second precision) for event_time, ingest_time, received_at, window_start, window_end and emitted_at",
  ));
  for (const feature of ["LowCardinality", "CODEC", "TTL", "query parameters"]) {
    assert.is(log.warn.filter((line) => line.includes(`no ${feature}`) || line.includes(`no column ${feature}`)).length, 1, feature);
  }
});

test("migrations apply once, the second run is a no-op", async () => {
  await migrationsAreIdempotent(ch);
});

test("two migrations racing on an empty server both succeed", async () => {
  await runQuery(ch.client, "DROP DATABASE sluice");
  const [a, b] = await Promise.all([migrate(ch.client, ch.caps), migrate(ch.client, ch.caps)]);
  // Every area adds its own migrations (windows 300s, detect 400s, …): the newest one is current.
  const newest = Math.max(...MIGRATIONS.map((m) => m.version));
  assert.is(a.current, newest);
  assert.is(b.current, newest);
  assert.equal((await migrate(ch.client, ch.caps)).applied, []);
  const tables = await runQuery(ch.client, "SELECT name FROM system.tables WHERE database = 'sluice' ORDER BY name");
  const names = tables.rows.flat();
  for (const name of ["dead_letters", "events", "late_events", "schema_migrations", "window_aggregates", "windows"]) assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
});

test("retention is ignored without TTL instead of failing", async () => {
  await migrate(ch.client, ch.caps, { retentionDays: 30 });
  const engine = await runQuery(ch.client, "SELECT engine_full FROM system.tables WHERE database = 'sluice' AND name = 'events'");
  assert.not.match(String(engine.rows[0][0]), /TTL/);
});

test("rows from rows.ts insert and read back (second precision), inserted_at from its DEFAULT", async () => {
  await rowsRoundTrip(ch);
});

test("a batch inserted twice counts once with FINAL; the newest window version wins", async () => {
  await replacingDedup(ch);
});

test("18.16's error text is parsed into code, name and a hint", async () => {
  const syntax = (await runQuery(ch.client, "SELEC 1").catch((e: unknown) => e)) as ClickHouseQueryError;
  assert.instance(syntax, ClickHouseQueryError);
  assert.is(syntax.code, "62");
  assert.is(syntax.type, "SYNTAX_ERROR");
  assert.match(syntax.serverMessage, /^Syntax error: failed at position 1/);
  assert.not.match(syntax.serverMessage, /e\.what\(\)/);

  const missing = (await runQuery(ch.client, "SELECT * FROM sluice.nope").catch((e: unknown) => e)) as ClickHouseQueryError;
  assert.is(missing.code, "60");
  assert.is(missing.type, "UNKNOWN_TABLE");
  assert.match(missing.message, /created by the migrations/);

  const typed = await runQuery(ch.client, "SELECT toDateTime64('2026-01-01 00:00:00', 3)").catch((e: unknown) => e);
  assert.instance(typed, ClickHouseQueryError);
  assert.is((typed as ClickHouseQueryError).type, "UNKNOWN_FUNCTION");
});

test("an outage surfaces as ClickHouseUnavailableError; after the restart the data is there", async () => {
  await server.kill("SIGTERM");
  const down = await runQuery(ch.client, "SELECT 1").catch((e: unknown) => e);
  assert.instance(down, ClickHouseUnavailableError);
  assert.match((down as Error).message, new RegExp(`ClickHouse \\(${server.url.replace(/[.]/g, "\\.")}\\) is not reachable`));
  const insert = await insertRows(ch.client, "events", envelopes(1).map((e) => eventRow(e, "t", ch.caps))).catch((e: unknown) => e);
  assert.instance(insert, ClickHouseUnavailableError);

  const port = server.httpPort;
  await server.restart();
  assert.is(server.httpPort, port);
  assert.equal((await runQuery(ch.client, "SELECT count() FROM sluice.events FINAL")).rows, [["250"]]);
  assert.equal((await migrate(ch.client, ch.caps)).applied, []);
});

test("opening a server that is not there fails with the url and what to do", async () => {
  const stopped = await ClickHouseServer.start();
  const url = stopped.url;
  await stopped.stop();
  const err = await openClickHouse({ url, dataDir: unusedDataDir, logger: log.logger }).catch((e: unknown) => e);
  assert.instance(err, ClickHouseUnavailableError);
  assert.match((err as Error).message, /start the server or fix the url/);
});

test.run();
