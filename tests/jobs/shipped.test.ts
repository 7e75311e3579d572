// The shipped jobs on real parts: lake-compact on a directory and on s3rver (signed DELETEs),
// rollup-daily on chDB behind its watermark sensor and idempotent on re-run, retention of the lake.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, probeCapabilities, type Capabilities } from "../../clickhouse/index.ts";
import { JOB_TABLES, TABLES } from "../../clickhouse/schema.ts";
import { loadConfig } from "../../config/index.ts";
import { lakeCompact, retention, rollupDaily, watermarksPastDay, type JobDeps } from "../../jobs/shipped.ts";
import { fileKey, LakeStore, openMemoryEngine, parseLakeUrl, type LakeEngine, type LakeLocation, type LakeRow } from "../../lake/index.ts";
import { S3rver } from "../lake/s3rver.ts";

const test = suite("shipped jobs: lake-compact, rollup-daily, retention");
const ctx = {} as { engine: LakeEngine; caps: Capabilities; dir: string; s3: S3rver };
const HOUR = 3_600_000;
const OLD = Date.UTC(2026, 10, 30, 8);
const NOW = Date.UTC(2026, 11, 1, 12, 15);

test.before(async () => {
  ctx.engine = await openMemoryEngine();
  ctx.caps = await probeCapabilities(ctx.engine.client, { info: () => undefined, warn: () => undefined });
  await migrate(ctx.engine.client, ctx.caps);
  ctx.dir = mkdtempSync(join(tmpdir(), "sluice-jobs-"));
  ctx.s3 = await S3rver.start("jobs");
});

test.after(async () => {
  await ctx.engine?.close();
  rmSync(ctx.dir, { recursive: true, force: true });
  await ctx.s3?.stop();
});

const row = (seq: number, ts: number): LakeRow => ({ stream: "RAW", seq, subject: `raw.iot.k${seq % 3}`, timestampMs: ts, headers: { n: String(seq) }, data: Uint8Array.from([seq & 255, 255, 0]) });
const attempt = (scheduledAtMs: number) => ({ job: "t", scheduledAtMs, trigger: "manual" as const, attempt: 1, signal: new AbortController().signal, log: console });
const deps = (lake: LakeStore, extra: Partial<JobDeps> = {}): JobDeps => ({ client: ctx.engine.client, caps: ctx.caps, lake: async () => lake, ...extra });
const comparable = (r: LakeRow) => JSON.stringify([r.seq, r.subject, r.timestampMs, r.headers, Buffer.from(r.data).toString("hex")]);

async function compactCase(location: LakeLocation): Promise<void> {
  const lake = new LakeStore(location, ctx.engine.client);
  const old = [[1, 10], [11, 20], [21, 35]].map(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => row(a + i, OLD + (a + i) * 1000)));
  for (const rows of old) await lake.write({ dataset: "raw", source: "iot", hourMs: OLD, firstSeq: rows[0].seq, lastSeq: rows[rows.length - 1].seq }, rows);
  // The sink's current hour: never touched.
  const current = NOW - (NOW % HOUR);
  await lake.write({ dataset: "raw", source: "iot", hourMs: current, firstSeq: 40, lastSeq: 40 }, [row(40, current + 5)]);
  await lake.write({ dataset: "raw", source: "iot", hourMs: current, firstSeq: 41, lastSeq: 41 }, [row(41, current + 6)]);

  const detail = await lakeCompact.run(deps(lake), attempt(NOW));
  assert.is(detail, "1 partition-hours merged, 3 files removed");
  const files = (await lake.list("raw")).map(fileKey);
  assert.equal(files, [
    "raw/source=iot/date=2026-11-30/hour=08/raw-0000000000000001-0000000000000035.parquet",
    "raw/source=iot/date=2026-12-01/hour=12/raw-0000000000000040-0000000000000040.parquet",
    "raw/source=iot/date=2026-12-01/hour=12/raw-0000000000000041-0000000000000041.parquet",
  ]);
  const [whole] = await lake.list("raw", "iot");
  assert.equal((await lake.read(whole)).map(comparable), old.flat().map(comparable), "every message once, in order, byte for byte");

  // A run that crashed between writing the merged file and removing the small ones left both: the next removes the leftover only.
  await lake.write({ dataset: "raw", source: "iot", hourMs: OLD, firstSeq: 11, lastSeq: 20 }, old[1]);
  assert.is(await lakeCompact.run(deps(lake), attempt(NOW)), "0 partition-hours merged, 1 files removed");
  assert.is((await lake.list("raw")).length, 3);
  assert.is(await lakeCompact.run(deps(lake), attempt(NOW)), "0 partition-hours merged, 0 files removed", "a second run changes nothing");
}

test("lake-compact on a directory: one file per complete hour, each message once", async () => {
  await compactCase(parseLakeUrl(join(ctx.dir, "lake")));
});

test("lake-compact on s3rver (signed DELETEs)", async () => {
  await compactCase(loadConfig({ SLUICE_STATE_DIR: ctx.dir, ...ctx.s3.env("compact") }).lake);
});

test("rollup-daily waits for every source's watermark, then writes the day once however often it runs", async () => {
  const lake = new LakeStore(parseLakeUrl(join(ctx.dir, "rollup")), ctx.engine.client);
  const day = Date.UTC(2026, 10, 29);
  const events = [
    ["iot", "s1", day + HOUR], ["iot", "s1", day + 2 * HOUR], ["iot", "s2", day + 3 * HOUR], ["txn", "c1", day + 4 * HOUR],
    ["iot", "s1", day + 25 * HOUR],
  ].map(([source, key, t], i) => ({
    event_id: `e${i}`, source, key, schema_version: 1, event_time: new Date(t as number).toISOString().slice(0, 23).replace("T", " "), ingest_time: new Date(t as number).toISOString().slice(0, 23).replace("T", " "),
    payload: "{}", raw_subject: `raw.${source}.${key}`, raw_seq: i + 1, trace_id: "",
  }));
  await ctx.engine.client.insert({ table: TABLES.events, values: events, format: "JSONEachRow" });
  const scheduledAtMs = day + 24 * HOUR + 30 * 60_000;
  const waiting = await watermarksPastDay.check(deps(lake), { job: "rollup-daily", scheduledAtMs, trigger: "manual" });
  assert.is(waiting.ok, false);
  assert.match(waiting.detail, /^txn at 2026-11-29T04:00:00.000Z; waiting for 2026-11-30T00:00:00.000Z$/);
  await ctx.engine.client.insert({ table: TABLES.events, values: [{ ...events[3], event_id: "late", event_time: "2026-11-30 01:00:00.000", ingest_time: "2026-11-30 01:00:00.000" }], format: "JSONEachRow" });
  assert.ok((await watermarksPastDay.check(deps(lake), { job: "rollup-daily", scheduledAtMs, trigger: "manual" })).ok);

  const read = async () => (await (await ctx.engine.client.query({ query: `SELECT toString(day) AS day, source, key, events, toString(first_event) AS first, toString(last_event) AS last FROM ${JOB_TABLES.daily_rollups} ORDER BY source, key`, format: "JSONEachRow" })).json());
  assert.is(await rollupDaily.run(deps(lake), attempt(scheduledAtMs)), "3 keys on 2026-11-29");
  const first = await read();
  assert.equal(first, [
    { day: "2026-11-29", source: "iot", key: "s1", events: 2, first: "2026-11-29 01:00:00", last: "2026-11-29 02:00:00" },
    { day: "2026-11-29", source: "iot", key: "s2", events: 1, first: "2026-11-29 03:00:00", last: "2026-11-29 03:00:00" },
    { day: "2026-11-29", source: "txn", key: "c1", events: 1, first: "2026-11-29 04:00:00", last: "2026-11-29 04:00:00" },
  ]);
  await rollupDaily.run(deps(lake), attempt(scheduledAtMs));
  assert.equal(await read(), first, "a re-run replaces the day: the same rows, not twice as many");
});

test("retention removes lake files of hours before the cutoff", async () => {
  const lake = new LakeStore(parseLakeUrl(join(ctx.dir, "retention")), ctx.engine.client);
  await lake.write({ dataset: "events", source: "iot", hourMs: OLD - 10 * 24 * HOUR, firstSeq: 1, lastSeq: 1 }, [row(1, OLD - 10 * 24 * HOUR)]);
  await lake.write({ dataset: "events", source: "iot", hourMs: OLD, firstSeq: 2, lastSeq: 2 }, [row(2, OLD)]);
  assert.match(await retention.run(deps(lake, { lakeRetentionDays: 7 }), attempt(OLD + HOUR)) as string, /, 1 lake files removed$/);
  assert.equal((await lake.list("events")).map((f) => f.firstSeq), [2]);
});

test.run();
