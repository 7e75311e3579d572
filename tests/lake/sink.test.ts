// The lake sink is a keyed actor over RAW: a real `sluice actor lake-raw` process is SIGKILLed
// while it writes files, restarted, and the lake must then hold every RAW message exactly once,
// in exactly the files one uninterrupted pass cuts (same names, same rows, original bytes).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { streamOverrides } from "../../actors/pipeline.ts";
import { lakeTasks } from "../../actors/lake/index.ts";
import { loadConfig } from "../../config/index.ts";
import { addRow, fileKey, LakeStore, openMemoryEngine, parseLakeUrl, type LakeEngine, type LakeLocation, type LakeRow, type OpenFile } from "../../lake/index.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { readStream, type Env } from "./env.ts";

const test = suite("lake sink: SIGKILL mid-file, restart, every message once");
const FILE_ROWS = 100;

interface Ctx {
  nats: NatsServer;
  nc: NatsConnection;
  engine: LakeEngine;
  dirs: string[];
  procs: SluiceProcess[];
}
const ctx = {} as Ctx;

test.before(async () => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.engine = await openMemoryEngine();
  ctx.dirs = [];
  ctx.procs = [];
});

test.after(async () => {
  for (const p of ctx.procs) await p.kill("SIGKILL");
  await ctx.engine?.close();
  await ctx.nc?.close();
  await ctx.nats?.stop();
  for (const d of ctx.dirs) rmSync(d, { recursive: true, force: true });
});

/** What one uninterrupted lake-raw cuts from what RAW holds now: file key → its rows. */
async function expectedFiles(nc: NatsConnection): Promise<Map<string, LakeRow[]>> {
  const raw = await readStream(nc, "RAW");
  const out = new Map<string, LakeRow[]>();
  for (const task of lakeTasks("raw")) {
    let open: OpenFile | undefined;
    for (const row of raw.filter((r) => task.owns(r.subject))) {
      const cut = addRow(open, row, { maxRows: FILE_ROWS, maxBytes: 1 << 30 });
      open = cut.open;
      for (const f of cut.complete) {
        out.set(fileKey({ dataset: "raw", source: task.source, hourMs: f.hourMs, firstSeq: f.rows[0].seq, lastSeq: f.rows[f.rows.length - 1].seq }), f.rows);
      }
    }
  }
  return out;
}

const comparable = (r: LakeRow) => JSON.stringify([r.stream, r.seq, r.subject, r.timestampMs, Object.entries(r.headers).sort(), Buffer.from(r.data).toString("hex")]);

/** Messages of every kind the lake must keep byte for byte: JSON, binary, headers, unknown sources. */
async function publishWorkload(nc: NatsConnection, n: number): Promise<void> {
  const js = jetstream(nc);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const h = natsHeaders();
    if (i % 3 === 0) h.set("Nats-Msg-Id", `lake-${i}`);
    if (i % 7 === 0) h.set("X-Odd", "tab\there 'quoted' \\ é");
    const data = i % 11 === 0 ? Uint8Array.from([0, 255, 10, 9, 92, 39, i & 255]) : new TextEncoder().encode(JSON.stringify({ sensor_id: `s${i % 9}`, n: i, note: "ünï" }));
    const subject = i % 13 === 0 ? `raw.bogus.k${i % 4}` : i % 2 ? `raw.iot.s${i % 9}` : `raw.txn.c${i % 5}`;
    pending.push(js.publish(subject, data, { headers: h }));
    if (pending.length >= 500) await withDeadline(Promise.all(pending.splice(0)), { what: "publish RAW", timeoutMs: 30_000 });
  }
  await withDeadline(Promise.all(pending), { what: "publish RAW", timeoutMs: 30_000 });
}

async function lakeFiles(store: LakeStore): Promise<string[]> {
  return (await store.list("raw")).map(fileKey).sort();
}

/** Runs the crash scenario against `location`; returns the store to look at. */
export async function crashAndRecover(c: Ctx, location: LakeLocation, env: Env): Promise<void> {
  const store = new LakeStore(location, c.engine.client);
  const start = () => {
    const p = SluiceProcess.start(["actor", "lake-raw"], { ...env, SLUICE_LAKE_FILE_ROWS: String(FILE_ROWS) });
    c.procs.push(p);
    return p;
  };
  const first = start();
  // Killed while it works through the backlog: some files are written, more are in progress.
  const some = await waitFor(() => lakeFiles(store), (f) => f.length >= 5, 60_000, 20);
  assert.ok(some.length >= 5, `no files before the kill:\n${first.output}`);
  await first.kill("SIGKILL");
  const expected = await expectedFiles(c.nc);
  assert.ok(expected.size >= 20, `expected at least 20 complete files, got ${expected.size}`);
  assert.ok(some.length < expected.size, `the first process finished (${some.length} of ${expected.size} files) before it was killed`);
  const second = start();
  const got = await waitFor(() => lakeFiles(store), (f) => f.length >= expected.size, 60_000);
  await second.kill("SIGTERM");
  assert.equal(got, [...expected.keys()].sort(), `lake files differ from one uninterrupted pass:\n${second.output}`);
  const seen = new Set<string>();
  for (const [key, rows] of expected) {
    const file = (await store.list("raw")).find((f) => fileKey(f) === key)!;
    const stored = (await store.read(file)).map(comparable);
    assert.equal(stored, rows.map(comparable), `${key}: rows differ`);
    for (const r of stored) {
      assert.not.ok(seen.has(r), `a message is in two files: ${r.slice(0, 80)}`);
      seen.add(r);
    }
  }
}

test("local directory: SIGKILL mid-file, then the same files as one uninterrupted pass", async () => {
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-lake-"));
  ctx.dirs.push(stateDir);
  const lakeDir = join(stateDir, "lake");
  await ensureStreams(await jetstreamManager(ctx.nc), streamOverrides(loadConfig({ SLUICE_STATE_DIR: stateDir })));
  await publishWorkload(ctx.nc, 3_000);
  await crashAndRecover(ctx, parseLakeUrl(lakeDir), { NATS_URL: ctx.nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_LAKE_URL: lakeDir });
  // Nothing but complete files is left: a killed write's temp file was removed by its rewrite.
  const leftovers = (function walk(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".parquet") ? [] : [e.name]));
  })(lakeDir);
  assert.equal(leftovers, [], "temp files left in the lake");
});

test.run();
