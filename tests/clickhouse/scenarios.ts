/**
 * The checks both engines must pass, written once: each test file opens its engine (chDB in a
 * temp dir, or a spawned clickhouse-server 18.16) and runs these against it.
 */
import * as assert from "uvu/assert";
import {
  DEAD_LETTER_COLUMNS,
  EVENT_COLUMNS,
  MIGRATIONS,
  WINDOW_COLUMNS,
  deadLetterRow,
  eventRow,
  insertRows,
  migrate,
  runQuery,
  windowRow,
  type Capabilities,
  type DeadLetterRow,
  type OpenClickHouse,
  type WindowRow,
} from "../../clickhouse/index.ts";
import type { Envelope } from "../../subjects/envelope.ts";

export interface CapturedLog {
  info: string[];
  warn: string[];
  logger: { info(m: string): void; warn(m: string): void };
}

export function captureLog(): CapturedLog {
  const info: string[] = [];
  const warn: string[] = [];
  return { info, warn, logger: { info: (m) => info.push(m), warn: (m) => warn.push(m) } };
}

/** 2026-11-27 10:00:00.123 UTC: a millisecond part that DateTime keeps and DateTime drops. */
export const BASE_MS = Date.UTC(2026, 10, 27, 10, 0, 0) + 123;

export function envelopes(n: number): Envelope[] {
  return Array.from({ length: n }, (_, i) => ({
    event_id: `evt-${String(i).padStart(4, "0")}`,
    source: "iot",
    key: `sensor-${i % 3}`,
    schema_version: 1,
    event_time: BASE_MS + i * 1_000,
    ingest_time: BASE_MS + i * 1_000 + 7,
    payload: { sensor_id: `sensor-${i % 3}`, temperature: 20 + i / 10, note: "quote ' and \\ and ünïcode" },
    raw_subject: `raw.iot.sensor-${i % 3}`,
    raw_seq: i + 1,
  }));
}

export function deadLetters(n: number): DeadLetterRow[] {
  return Array.from({ length: n }, (_, i) => ({
    dlq_id: `dlq-${i}`,
    received_at: BASE_MS + i,
    actor: "validate",
    source: "iot",
    subject: "raw.iot.sensor-1",
    stream: "RAW",
    stream_seq: 100 + i,
    deliveries: 1,
    reason: "payload is not JSON: Unexpected end of JSON input",
    error_code: "decode",
    payload: new TextEncoder().encode(`{"sensor_id":"sensor-1","ts":${i}`),
    headers: { "Nats-Msg-Id": `m-${i}`, "X-Multi": ["a", "b"] },
  }));
}

export function windowResult(version: number, count: number): WindowRow {
  return {
    window_id: "iot:tumbling:60000:sensor-1:temperature:1795773600000",
    source: "iot",
    kind: "tumbling",
    key: "sensor-1",
    metric: "temperature",
    window_start: Date.UTC(2026, 10, 27, 10, 0, 0),
    window_end: Date.UTC(2026, 10, 27, 10, 1, 0),
    count,
    sum: count * 21.5,
    min: 20,
    max: 23,
    mean: 21.5,
    stddev: count > 1 ? 0.75 : NaN,
    p50: 21.5,
    p95: 22.9,
    p99: 23,
    distinct_count: null,
    version,
    emitted_at: Date.UTC(2026, 10, 27, 10, 1, 5) + version,
  };
}

async function scalar(ch: OpenClickHouse, sql: string): Promise<string> {
  const result = await runQuery(ch.client, sql, "json");
  return String(result.rows[0]?.[0]);
}

async function columnsOf(ch: OpenClickHouse, table: string): Promise<Map<string, string>> {
  const result = await runQuery(ch.client, `DESCRIBE TABLE ${table}`);
  return new Map(result.rows.map((r) => [String(r[0]), String(r[1])]));
}

/** Runs the migrations twice: the first applies 1..3, the second nothing, and the tables match the caps. */
export async function migrationsAreIdempotent(ch: OpenClickHouse): Promise<void> {
  const versions = MIGRATIONS.map((m) => m.version);
  const newest = Math.max(...versions);
  const first = await migrate(ch.client, ch.caps);
  assert.equal(first.applied, versions);
  assert.is(first.current, newest);
  const created = await runQuery(ch.client, "SHOW CREATE TABLE sluice.events");
  const second = await migrate(ch.client, ch.caps);
  assert.equal(second.applied, []);
  assert.is(second.current, newest);
  assert.equal((await runQuery(ch.client, "SHOW CREATE TABLE sluice.events")).rows, created.rows, "the second run left the table as it was");
  assert.is(await scalar(ch, "SELECT count() FROM sluice.schema_migrations FINAL"), String(versions.length));

  const events = await columnsOf(ch, "sluice.events");
  // Typed payload columns (`<source>__<field>`, clickhouse/columns.ts) follow the contract's columns.
  assert.equal([...events.keys()].filter((c) => !c.includes("__")), [...EVENT_COLUMNS, "inserted_at"], "sluice.events has the contract's columns in order");
  assert.equal([...(await columnsOf(ch, "sluice.dead_letters")).keys()], [...DEAD_LETTER_COLUMNS]);
  assert.equal([...(await columnsOf(ch, "sluice.window_aggregates")).keys()], [...WINDOW_COLUMNS]);
  const time = ch.caps.dateTime64 ? "DateTime64(3, 'UTC')" : "DateTime('UTC')";
  assert.is(events.get("event_time"), time);
  assert.is(events.get("source"), ch.caps.lowCardinality ? "LowCardinality(String)" : "String");
  assert.is(events.get("inserted_at"), "DateTime");
}

function expectedTime(ms: number, caps: Capabilities): string {
  const iso = new Date(ms).toISOString().replace("T", " ").replace("Z", "");
  return caps.dateTime64 ? iso : iso.slice(0, 19);
}

/** Rows from rows.ts go in through insertRows and come back with the same values. */
export async function rowsRoundTrip(ch: OpenClickHouse): Promise<void> {
  const batch = envelopes(10);
  await insertRows(ch.client, "events", batch.map((e) => eventRow(e, `trace-${e.event_id}`, ch.caps)));
  const got = await runQuery(
    ch.client,
    `SELECT event_id, source, key, schema_version, toString(event_time), toString(ingest_time), payload, raw_subject, raw_seq, trace_id,
            toUInt32(inserted_at) > toUInt32(toDateTime('2026-01-01 00:00:00'))
     FROM sluice.events WHERE event_id = 'evt-0003'`,
  );
  const e = batch[3];
  assert.equal(got.rows, [[
    e.event_id, "iot", "sensor-0", 1, expectedTime(e.event_time, ch.caps), expectedTime(e.ingest_time, ch.caps),
    JSON.stringify(e.payload), e.raw_subject, "4", "trace-evt-0003", 1,
  ]]);
  assert.equal(JSON.parse(String(got.rows[0][6])), e.payload, "the payload JSON survives, quotes and unicode included");

  const dead = deadLetters(2);
  await insertRows(ch.client, "dead_letters", dead.map((d) => deadLetterRow(d, "trace-dlq", ch.caps)));
  const dl = await runQuery(ch.client, "SELECT dlq_id, toString(received_at), subject, stream_seq, deliveries, error_code, payload, headers FROM sluice.dead_letters WHERE dlq_id = 'dlq-1'");
  assert.equal(dl.rows, [[
    "dlq-1", expectedTime(BASE_MS + 1, ch.caps), "raw.iot.sensor-1", "101", 1, "decode", `{"sensor_id":"sensor-1","ts":1`,
    JSON.stringify({ "Nats-Msg-Id": "m-1", "X-Multi": ["a", "b"] }),
  ]]);

  await insertRows(ch.client, "window_aggregates", [windowRow(windowResult(1, 1), "trace-w", ch.caps)]);
  const w = await runQuery(ch.client, "SELECT kind, metric, toString(window_start), toString(window_end), count, sum, isNaN(stddev), p95, distinct_count, version FROM sluice.window_aggregates");
  assert.equal(w.rows, [["tumbling", "temperature", expectedTime(Date.UTC(2026, 10, 27, 10, 0, 0), ch.caps), expectedTime(Date.UTC(2026, 10, 27, 10, 1, 0), ch.caps), "1", 21.5, 1, 22.9, "0", "1"]]);
}

/** The same batch inserted twice, as a redelivery would, counts once with FINAL; a newer window version wins. */
export async function replacingDedup(ch: OpenClickHouse): Promise<void> {
  await runQuery(ch.client, "TRUNCATE TABLE sluice.events");
  await runQuery(ch.client, "TRUNCATE TABLE sluice.dead_letters");
  await runQuery(ch.client, "TRUNCATE TABLE sluice.window_aggregates");
  const rows = envelopes(250).map((e) => eventRow(e, "trace", ch.caps));
  // With merges stopped the duplicates stay on disk, so the exact count is FINAL's doing.
  await runQuery(ch.client, "SYSTEM STOP MERGES sluice.events");
  try {
    await insertRows(ch.client, "events", rows);
    await insertRows(ch.client, "events", rows);
    assert.is(await scalar(ch, "SELECT count() FROM sluice.events"), "500");
    assert.is(await scalar(ch, "SELECT count() FROM sluice.events FINAL"), "250");
    assert.is(await scalar(ch, "SELECT uniqExact(event_id) FROM sluice.events FINAL"), "250");
  } finally {
    await runQuery(ch.client, "SYSTEM START MERGES sluice.events");
  }

  const dead = deadLetters(5).map((d) => deadLetterRow(d, "t", ch.caps));
  await insertRows(ch.client, "dead_letters", dead);
  await insertRows(ch.client, "dead_letters", dead);
  assert.is(await scalar(ch, "SELECT count() FROM sluice.dead_letters FINAL"), "5");

  await insertRows(ch.client, "window_aggregates", [windowRow(windowResult(2, 40), "t", ch.caps)]);
  await insertRows(ch.client, "window_aggregates", [windowRow(windowResult(1, 10), "t", ch.caps)]);
  const latest = await runQuery(ch.client, "SELECT count, version FROM sluice.window_aggregates FINAL");
  assert.equal(latest.rows, [["40", "2"]], "the higher version replaces the lower one, whatever the insert order");
}
