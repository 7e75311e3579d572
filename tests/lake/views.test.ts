// sluice.lake_raw and sluice.lake_events over real Parquet files, in a directory and on s3rver:
// every stored column comes back, the envelope's fields are columns, new files show at once, and
// a filter on source or date opens only the matching files (a corrupt file elsewhere is not read).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../config/index.ts";
import { createLakeViews, LakeStore, openMemoryEngine, parseLakeUrl, type LakeEngine, type LakeLocation, type LakeRow } from "../../lake/index.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { S3rver } from "./s3rver.ts";

const test = suite("lake views: sluice.lake_raw and sluice.lake_events");
const ctx = {} as { engine: LakeEngine; dir: string; s3: S3rver };

test.before(async () => {
  ctx.engine = await openMemoryEngine();
  ctx.dir = mkdtempSync(join(tmpdir(), "sluice-lake-views-"));
  ctx.s3 = await S3rver.start("views");
  await ctx.engine.client.command({ query: "CREATE DATABASE IF NOT EXISTS sluice" });
});

test.after(async () => {
  await ctx.engine?.close();
  rmSync(ctx.dir, { recursive: true, force: true });
  await ctx.s3?.stop();
});

const HOUR = 3_600_000;
const DAY1 = Date.UTC(2026, 10, 30, 22);
const DAY2 = Date.UTC(2026, 11, 1, 9);

function rawRow(seq: number, ts: number, subject: string): LakeRow {
  return { stream: "RAW", seq, subject, timestampMs: ts, headers: { "Nats-Msg-Id": `m${seq}` }, data: Uint8Array.from([seq & 255, 0, 255, 10]) };
}

function eventRow(seq: number, ts: number, source: string): LakeRow {
  const envelope = { event_id: `e${seq}`, source, key: `k${seq % 3}`, schema_version: 1, event_time: ts - 1_000, ingest_time: ts, payload: { v: seq }, raw_subject: `raw.${source}.k${seq % 3}`, raw_seq: seq * 10 };
  return { stream: "EVENTS", seq, subject: `events.${source}.0`, timestampMs: ts, headers: {}, data: new TextEncoder().encode(JSON.stringify(envelope)) };
}

const rows = async (query: string) => (await (await ctx.engine.client.query({ query, format: "JSONEachRow", clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json()) as Record<string, unknown>[];

async function exercise(location: LakeLocation, corrupt: () => void | Promise<void>): Promise<void> {
  const store = new LakeStore(location, ctx.engine.client);
  await createLakeViews(ctx.engine.client, location);
  assert.equal(await rows("SELECT count() AS n FROM sluice.lake_raw"), [{ n: 0 }], "an empty lake is an empty view");
  await store.write({ dataset: "raw", source: "iot", hourMs: DAY1, firstSeq: 1, lastSeq: 2 }, [rawRow(1, DAY1 + 5, "raw.iot.a"), rawRow(2, DAY1 + 6, "raw.iot.b")]);
  await store.write({ dataset: "raw", source: "txn", hourMs: DAY2, firstSeq: 3, lastSeq: 3 }, [rawRow(3, DAY2 + HOUR / 2, "raw.txn.c")]);
  await store.write({ dataset: "events", source: "iot", hourMs: DAY2, firstSeq: 7, lastSeq: 8 }, [eventRow(7, DAY2 + 1, "iot"), eventRow(8, DAY2 + 2, "iot")]);

  const raw = await rows("SELECT source, toString(date) AS date, hour, seq, subject, toUnixTimestamp64Milli(stream_time) AS ts, headers['Nats-Msg-Id'] AS id, hex(data) AS data FROM sluice.lake_raw ORDER BY seq");
  assert.equal(raw, [
    { source: "iot", date: "2026-11-30", hour: 22, seq: 1, subject: "raw.iot.a", ts: DAY1 + 5, id: "m1", data: "0100FF0A" },
    { source: "iot", date: "2026-11-30", hour: 22, seq: 2, subject: "raw.iot.b", ts: DAY1 + 6, id: "m2", data: "0200FF0A" },
    { source: "txn", date: "2026-12-01", hour: 9, seq: 3, subject: "raw.txn.c", ts: DAY2 + HOUR / 2, id: "m3", data: "0300FF0A" },
  ]);
  const events = await rows("SELECT source, event_id, key, toUnixTimestamp64Milli(event_time) AS et, JSONExtractInt(payload, 'v') AS v, raw_seq FROM sluice.lake_events ORDER BY seq");
  assert.equal(events, [
    { source: "iot", event_id: "e7", key: "k1", et: DAY2 + 1 - 1_000, v: 7, raw_seq: 70 },
    { source: "iot", event_id: "e8", key: "k2", et: DAY2 + 2 - 1_000, v: 8, raw_seq: 80 },
  ]);

  // A file that is not Parquet, in another source and date: only a query that must read it fails.
  await corrupt();
  assert.equal(await rows("SELECT count() AS n FROM sluice.lake_raw WHERE source = 'iot'"), [{ n: 2 }]);
  assert.equal(await rows("SELECT count() AS n FROM sluice.lake_raw WHERE date = '2026-12-01'"), [{ n: 1 }]);
  let failed = "";
  await rows("SELECT count() FROM sluice.lake_raw").catch((err: Error) => (failed = err.message));
  assert.match(failed, /Parquet|magic/i, "an unfiltered query reads the corrupt file, so the filters above pruned it");
}

const BAD_KEY = "raw/source=bad/date=2026-10-01/hour=00/raw-0000000000000009-0000000000000009.parquet";

test("a local directory", async () => {
  const location = parseLakeUrl(join(ctx.dir, "lake"));
  await exercise(location, () => {
    const path = join(ctx.dir, "lake", BAD_KEY);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, "not parquet");
  });
});

test("s3rver", async () => {
  const env = { SLUICE_STATE_DIR: ctx.dir, ...ctx.s3.env("v") };
  const location = loadConfig(env).lake;
  await exercise(location, async () => {
    const put = await fetch(`${ctx.s3.endpoint}/views/v/${BAD_KEY}`, { method: "PUT", body: "not parquet" });
    assert.ok(put.ok, `PUT of the corrupt object: ${put.status}`);
  });
});

test("sluice lake sql: the same views in a process of its own (for a ClickHouse that reads no Parquet)", async () => {
  const p = SluiceProcess.start(["lake", "sql", "SELECT source, count() AS n FROM sluice.lake_raw WHERE date = '2026-11-30' GROUP BY source", "--format", "json"], { SLUICE_STATE_DIR: ctx.dir, SLUICE_LAKE_URL: join(ctx.dir, "lake") });
  const code = await new Promise<number | null>((resolve) => p.child.once("exit", resolve));
  assert.is(code, 0, p.output);
  assert.equal(JSON.parse(p.output), [{ source: "iot", n: "2" }], "UInt64 as a string, as sluice sql prints it");
});

test.run();
