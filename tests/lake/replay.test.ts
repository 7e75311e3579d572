// Replay from the lake after RAW is gone: a run stores readings (events, windows, and each RAW
// message in the lake), events and windows of some keys are deleted from ClickHouse, and a new
// NATS server (empty streams, as after RAW's retention) gets the day replayed with
// `sluice lake replay`. The pipeline must give back exactly the rows it had, each once.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureStreams } from "../../subjects/setup.ts";
import type { ActorName } from "../../actors/pipeline.ts";
import { LakeStore, openMemoryEngine, parseLakeUrl, replayRange, type LakeEngine, type LakeRow } from "../../lake/index.ts";
import { HEADERS, STREAMS } from "../../subjects/catalog.ts";
import { eventIdOf } from "../../subjects/identity.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { validReadings, watermarkFlush } from "../harness/events.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import { diffRows, scalar, tableRows, type TableSpec } from "../harness/run-snapshot.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { readStream } from "./env.ts";

const test = suite("lake replay: deleted rows come back exactly, after RAW is gone");
const N = 300;
const ACTORS: readonly ActorName[] = ["validate", "window", "clickhouse-sink-events", "clickhouse-sink-agg"];
const TABLES: Record<string, TableSpec> = {
  events: { name: "events", from: "sluice.events FINAL", exclude: { ingest_time: "RAW stream time: the replay's", inserted_at: "wall clock", trace_id: "a new trace per run" } },
  windows: { name: "windows", from: "sluice.windows", exclude: { emitted_at: "EVENTS stream time of the firing message: the replay's", trace_id: "a new trace per run" } },
};
const DELETED = "('sensor-1', 'sensor-3')";

const ctx = { servers: [] as NatsServer[], pipelines: [] as TestPipeline[], dirs: [] as string[] } as {
  ch: ClickHouseServer;
  client: ClickHouseClient;
  engine: LakeEngine;
  lakeDir: string;
  first: NatsConnection;
  servers: NatsServer[];
  pipelines: TestPipeline[];
  dirs: string[];
};

async function nats(): Promise<{ server: NatsServer; nc: NatsConnection }> {
  const server = await NatsServer.start();
  ctx.servers.push(server);
  return { server, nc: await connect({ servers: server.url }) };
}

test.before(async () => {
  ctx.ch = await ClickHouseServer.start();
  ctx.client = createClient({ url: ctx.ch.url });
  ctx.engine = await openMemoryEngine();
  ctx.lakeDir = mkdtempSync(join(tmpdir(), "sluice-lake-replay-"));
  ctx.dirs.push(ctx.lakeDir);
});

test.after(async () => {
  for (const p of ctx.pipelines) await p.cleanup().catch(() => undefined);
  await ctx.first?.close();
  for (const s of ctx.servers) await s.stop();
  await ctx.client?.close();
  await ctx.engine?.close();
  await ctx.ch?.stop();
  for (const d of ctx.dirs) rmSync(d, { recursive: true, force: true });
});

const windowed = () => scalar(ctx.client, "SELECT sum(count) FROM sluice.window_aggregates FINAL WHERE kind = 'tumbling' AND metric = 'temperature'");
const events = () => scalar(ctx.client, "SELECT count() FROM sluice.events FINAL");

/** Waits until the pipeline stored `eventsWanted` events and every reading is windowed, then for the rows to stop changing. */
async function settled(eventsWanted: number): Promise<void> {
  await waitFor(events, (n) => n >= eventsWanted, 60_000);
  await waitFor(windowed, (n) => n >= N, 60_000);
  let last = "";
  await waitFor(async () => {
    const now = `${await scalar(ctx.client, "SELECT count() FROM sluice.window_aggregates")}/${await scalar(ctx.client, "SELECT count() FROM sluice.events")}`;
    const same = now === last;
    last = now;
    return same;
  }, (same) => same, 30_000, 1_500);
}

test("delete events and windows, replay the day into an empty RAW: the same rows, each once", async () => {
  const env = { SLUICE_LAKE_URL: ctx.lakeDir, SLUICE_LAKE_FILE_ROWS: "1", SLUICE_SINK_BATCH_MS: "200" };
  const a = await nats();
  ctx.first = a.nc;
  const p1 = await startTestPipeline(a.server.url, { clickhouseUrl: ctx.ch.url, actors: [...ACTORS, "lake-raw"], env });
  ctx.pipelines.push(p1);
  const readings = [...validReadings(N), ...watermarkFlush(Date.UTC(2026, 10, 27, 11, 0, 0))];
  await publishAll(a.nc, readings);
  await settled(readings.length);
  const store = new LakeStore(parseLakeUrl(ctx.lakeDir), ctx.engine.client);
  await waitFor(async () => (await store.list("raw", "iot")).length, (n) => n >= readings.length, 60_000);
  const before = { events: await tableRows(ctx.client, TABLES.events), windows: await tableRows(ctx.client, TABLES.windows) };
  await p1.cleanup();
  ctx.pipelines.splice(ctx.pipelines.indexOf(p1), 1);

  await ctx.client.command({ query: `ALTER TABLE sluice.events DELETE WHERE key IN ${DELETED}` });
  await ctx.client.command({ query: `ALTER TABLE sluice.window_aggregates DELETE WHERE key IN ${DELETED}` });
  const left = await waitFor(events, (n) => n < readings.length, 30_000);
  assert.ok(left < readings.length && left > 0, `the delete left ${left} of ${readings.length} events`);

  // RAW is gone: a new server with empty streams, the same ClickHouse.
  const b = await nats();
  const p2 = await startTestPipeline(b.server.url, { clickhouseUrl: ctx.ch.url, actors: ACTORS, env });
  ctx.pipelines.push(p2);
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-lake-replay-state-"));
  ctx.dirs.push(stateDir);
  const replay = SluiceProcess.start(["lake", "replay", "--source", "iot", "--from", "2026-11-01", "--to", "2100-01-01"], { NATS_URL: b.server.url, SLUICE_STATE_DIR: stateDir, SLUICE_LAKE_URL: ctx.lakeDir });
  const code = await new Promise<number | null>((resolve) => replay.child.once("exit", resolve));
  assert.is(code, 0, replay.output);
  assert.match(replay.output, new RegExp(`replayed ${readings.length}/${readings.length} messages`), replay.output);
  assert.match(replay.output, /\[#+\] \d+\/\d+ 100% \d+ msg\/s ETA 0s/, "a progress line");
  await settled(readings.length);

  const after = { events: await tableRows(ctx.client, TABLES.events), windows: await tableRows(ctx.client, TABLES.windows) };
  assert.is(diffRows(before.events, after.events, ["before", "after replay"]), undefined);
  assert.is(diffRows(before.windows, after.windows, ["before", "after replay"]), undefined);
  // Each event once by identity. The events sink looks identities up only for redelivered
  // inputs, so an event that was still stored may be inserted again by the replay (a first
  // delivery on the new EVENTS) and is one row under FINAL or after a merge: compared above.
  assert.is(await scalar(ctx.client, "SELECT count() FROM sluice.events FINAL"), readings.length);
  assert.is(await scalar(ctx.client, "SELECT uniqExact(source, key, event_id) FROM sluice.events"), readings.length);

  // What the replay published: each message's bytes and headers, under its first delivery's event id.
  const original = (await readStream(a.nc, STREAMS.RAW.name)).filter((m) => m.subject.startsWith("raw.iot."));
  const replayed = await readStream(b.nc, STREAMS.RAW.name);
  assert.is(replayed.length, original.length);
  replayed.forEach((m, i) => {
    const o = original[i];
    assert.is(m.subject, o.subject);
    assert.equal(Buffer.from(m.data), Buffer.from(o.data), `seq ${o.seq}: bytes`);
    const id = eventIdOf(new Map(Object.entries(o.headers)), JSON.parse(new TextDecoder().decode(o.data)) as Record<string, unknown>, STREAMS.RAW.name, o.seq);
    assert.is(m.headers[HEADERS.msgId], id, `seq ${o.seq}: Nats-Msg-Id`);
  });
  await b.nc.close();
});

test("an interrupted replay resumes after what it stored, publishing nothing twice", async () => {
  const c = await nats();
  await ensureStreams(await jetstreamManager(c.nc));
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-lake-resume-"));
  ctx.dirs.push(stateDir);
  const lakeDir = join(stateDir, "lake");
  const store = new LakeStore(parseLakeUrl(lakeDir), ctx.engine.client);
  // 300 messages in 3 files, some with a producer id, some with only a payload event_id, some with neither.
  const t0 = Date.UTC(2026, 10, 27, 10);
  for (let f = 0; f < 3; f++) {
    const rows = Array.from({ length: 100 }, (_, i): LakeRow => {
      const seq = f * 100 + i + 1;
      const body = seq % 3 === 0 ? { sensor_id: "s", n: seq, event_id: `p${seq}` } : { sensor_id: "s", n: seq };
      return { stream: "RAW", seq, subject: "raw.iot.s", timestampMs: t0 + seq, headers: seq % 3 === 1 ? { [HEADERS.msgId]: `h${seq}` } : {}, data: new TextEncoder().encode(JSON.stringify(body)) };
    });
    await store.write({ dataset: "raw", source: "iot", hourMs: t0, firstSeq: rows[0].seq, lastSeq: rows[99].seq }, rows);
  }
  const range = { source: "iot" };
  const stop = new AbortController();
  const first = await replayRange({ nc: c.nc, store, range, stateDir, window: 50, signal: stop.signal, onProgress: (p) => p.done >= 100 && stop.abort() });
  assert.is(first.complete, false);
  assert.is(first.done, 100);
  assert.is(await streamCount(c.nc, "RAW"), 100);
  const second = await replayRange({ nc: c.nc, store, range, stateDir, window: 50 });
  assert.ok(second.complete);
  assert.ok(second.resumedAt > 0, "resumed from the saved position");
  assert.is(second.duplicates, 0, "nothing stored before the stop was published again");
  assert.is(second.done, second.total);
  assert.is(second.total, 300);
  assert.is(await streamCount(c.nc, "RAW"), 300);
  // Replaying again adds nothing: every message carries the id RAW already holds.
  const third = await replayRange({ nc: c.nc, store, range, stateDir: join(stateDir, "again"), window: 50 });
  assert.is(third.duplicates, 300);
  assert.is(await streamCount(c.nc, "RAW"), 300);
  await c.nc.close();
});

test.run();
