import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClickHouseQueryError, LOCK_FILE, MIGRATIONS, QueryInputError, TABLES, migrate, openClickHouse, runQuery, type OpenClickHouse } from "../../clickhouse/index.ts";
import { captureLog, migrationsAreIdempotent, replacingDedup, rowsRoundTrip } from "./scenarios.ts";

// One chDB data directory for the whole file: libchdb binds one per process.
const dataDir = mkdtempSync(join(tmpdir(), "sluice-chdb-"));
const log = captureLog();
let ch: OpenClickHouse;

test.before(async () => {
  ch = await openClickHouse({ dataDir, logger: log.logger });
});

test.after(async () => {
  await ch?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test("chDB opens embedded with every capability and logs no fallback", () => {
  assert.is(ch.kind, "embedded");
  assert.match(ch.caps.version, /^2\d\.\d+/);
  assert.equal({ ...ch.caps, version: "" }, { version: "", lowCardinality: true, codecs: true, ttl: true, dateTime64: true, queryParams: true });
  assert.equal(log.warn, []);
  assert.is(readFileSync(join(dataDir, LOCK_FILE), "utf8").trim(), String(process.pid), "the lock file names this process");
});

test("migrations apply once, the second run is a no-op", async () => {
  await migrationsAreIdempotent(ch);
  const create = String((await runQuery(ch.client, "SHOW CREATE TABLE sluice.events")).rows[0][0]);
  assert.match(create, /`?payload`? String CODEC\(ZSTD\(3\)\)/);
  assert.not.match(create, /TTL/, "no retention configured, no TTL");
});

test("rows from rows.ts insert and read back with millisecond times", async () => {
  await rowsRoundTrip(ch);
});

test("a batch inserted twice counts once with FINAL; the newest window version wins", async () => {
  await replacingDedup(ch);
});

test("retention days become a TTL, change when the setting changes, and stay put otherwise", async () => {
  const ttlOf = async () => {
    const r = await runQuery(ch.client, "SELECT name, engine_full FROM system.tables WHERE database = 'sluice' AND name IN ('dead_letters', 'events', 'window_aggregates') ORDER BY name");
    return r.rows.map((row) => /TTL (.*?) SETTINGS/.exec(String(row[1]))?.[1]);
  };
  const infoBefore = log.info.length;
  await migrate(ch.client, ch.caps, { retentionDays: 30, logger: log.logger });
  assert.equal(await ttlOf(), [
    "toDateTime(received_at) + toIntervalDay(30)",
    "toDateTime(event_time) + toIntervalDay(30)",
    "toDateTime(window_start) + toIntervalDay(30)",
  ]);
  const tables = Object.keys(TABLES).length;
  assert.is(log.info.length - infoBefore, tables, "one line per table changed");
  await migrate(ch.client, ch.caps, { retentionDays: 30, logger: log.logger });
  assert.is(log.info.length - infoBefore, tables, "unchanged retention alters nothing");
  await migrate(ch.client, ch.caps, { retentionDays: 7, logger: log.logger });
  assert.equal((await ttlOf())[1], "toDateTime(event_time) + toIntervalDay(7)");
  try {
    await migrate(ch.client, ch.caps, { retentionDays: 0 });
    assert.unreachable("0 days is refused");
  } catch (err) {
    assert.instance(err, RangeError);
  }
});

test("runQuery returns columns and rows, renders both formats, and types its errors", async () => {
  const r = await runQuery(ch.client, "-- per source\nSELECT source, count() AS n FROM sluice.events FINAL GROUP BY source;", "table");
  assert.is(r.kind, "rows");
  assert.equal(r.columns, [{ name: "source", type: "LowCardinality(String)" }, { name: "n", type: "UInt64" }]);
  assert.equal(r.rows, [["iot", "250"]]);
  assert.is(r.text, "source    n\n------  ---\niot     250\n(1 row)");
  assert.equal(JSON.parse((await runQuery(ch.client, "SELECT 1 AS one", "json")).text), [{ one: 1 }]);
  assert.is((await runQuery(ch.client, "CREATE TABLE IF NOT EXISTS default.scratch (a UInt8) ENGINE = Memory")).text, "OK");

  const failure = await runQuery(ch.client, "SELEC 1").catch((e: unknown) => e);
  assert.instance(failure, ClickHouseQueryError);
  const syntax = failure as ClickHouseQueryError;
  assert.is(syntax.code, "62");
  assert.is(syntax.type, "SYNTAX_ERROR");
  assert.match(syntax.serverMessage, /Syntax error/);
  assert.match(syntax.message, /fix the SQL/);

  const missing = (await runQuery(ch.client, "SELECT * FROM sluice.nope").catch((e: unknown) => e)) as ClickHouseQueryError;
  assert.is(missing.type, "UNKNOWN_TABLE");
  // The hint names every table, from the one list in clickhouse/schema.ts.
  assert.match(missing.message, /sluice\.events, sluice\.dead_letters, sluice\.window_aggregates, sluice\.anomalies, sluice\.forecasts, sluice\.dq_results, sluice\.windows, sluice\.late_events,/);

  const formatted = await runQuery(ch.client, "SELECT 1 FORMAT CSV").catch((e: unknown) => e);
  assert.instance(formatted, QueryInputError);
});

test("the schema and data survive closing and reopening the data directory", async () => {
  await ch.close();
  assert.not.ok(existsSync(join(dataDir, LOCK_FILE)), "close removes the lock file");
  ch = await openClickHouse({ dataDir, logger: log.logger });
  assert.equal((await migrate(ch.client, ch.caps)).applied, []);
  assert.equal((await runQuery(ch.client, "SELECT count() FROM sluice.events FINAL")).rows, [["250"]]);
});

test("a schema newer than this code knows is reported, not touched", async () => {
  const known = Math.max(...MIGRATIONS.map((m) => m.version));
  const future = known + 1000;
  await runQuery(ch.client, `INSERT INTO sluice.schema_migrations (version, name, server_version) VALUES (${future}, 'from the future', '')`);
  const warned = log.warn.length;
  const result = await migrate(ch.client, ch.caps, { logger: log.logger });
  assert.equal(result, { applied: [], current: future });
  assert.is(log.warn.length, warned + 1);
  assert.match(log.warn.at(-1)!, new RegExp(`schema version ${future}, newer than this sluice knows \\(${known}\\)`));
});

test.run();
