import * as assert from "uvu/assert";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { lakeTasks } from "../../actors/lake/index.ts";
import { addRow, fileKey, LakeStore, type LakeEngine, type LakeLocation, type LakeRow, type OpenFile } from "../../lake/index.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { readStream as readMessages } from "../harness/keyed-replay.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";

export const FILE_ROWS = 100;

export interface LakeTestCtx {
  readonly nc: NatsConnection;
  readonly engine: LakeEngine;
  readonly procs: SluiceProcess[];
}

/** Environment of a `sluice` child process. */
export type Env = Record<string, string>;

/** Every message a stream holds now, as lake rows, in stream order. */
export async function readStream(nc: NatsConnection, stream: string): Promise<LakeRow[]> {
  return (await readMessages(nc, stream)).map((m) => {
    const headers: Record<string, string> = {};
    if (m.headers) for (const k of m.headers.keys()) headers[k] = m.headers.get(k);
    return { stream, seq: m.seq, subject: m.subject, timestampMs: Number(m.timestampNanos / 1_000_000n), headers, data: m.data };
  });
}

/** What one uninterrupted lake-raw cuts from what RAW holds now: file key → its rows. */
export async function expectedFiles(nc: NatsConnection): Promise<Map<string, LakeRow[]>> {
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

export const comparable = (r: LakeRow) => JSON.stringify([r.stream, r.seq, r.subject, r.timestampMs, Object.entries(r.headers).sort(), Buffer.from(r.data).toString("hex")]);

/** Messages of every kind the lake must keep byte for byte: JSON, binary, headers, unknown sources. */
export async function publishWorkload(nc: NatsConnection, n: number): Promise<void> {
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

export async function lakeFiles(store: LakeStore): Promise<string[]> {
  return (await store.list("raw")).map(fileKey).sort();
}

/** Starts `sluice actor lake-raw` (files of FILE_ROWS rows). */
export function startLakeRaw(c: LakeTestCtx, env: Env): SluiceProcess {
  const p = SluiceProcess.start(["actor", "lake-raw"], { ...env, SLUICE_LAKE_FILE_ROWS: String(FILE_ROWS) });
  c.procs.push(p);
  return p;
}

/** The lake holds exactly the files one uninterrupted pass cuts from RAW, and each message once. */
export async function assertLakeIsOnePass(c: LakeTestCtx, store: LakeStore, expected: Map<string, LakeRow[]>, output: string): Promise<void> {
  const got = await lakeFiles(store);
  assert.equal(got, [...expected.keys()].sort(), `lake files differ from one uninterrupted pass:\n${output}`);
  const files = await store.list("raw");
  const seen = new Set<string>();
  for (const [key, rows] of expected) {
    const file = files.find((f) => fileKey(f) === key)!;
    const stored = (await store.read(file)).map(comparable);
    assert.equal(stored, rows.map(comparable), `${key}: rows differ`);
    for (const r of stored) {
      assert.not.ok(seen.has(r), `a message is in two files: ${r.slice(0, 80)}`);
      seen.add(r);
    }
  }
}

/** Runs lake-raw over RAW's backlog, SIGKILLs it mid-way, restarts it and checks the lake. */
export async function crashAndRecover(c: LakeTestCtx, location: LakeLocation, env: Env): Promise<void> {
  const store = new LakeStore(location, c.engine.client);
  const first = startLakeRaw(c, env);
  // Killed while it works through the backlog: some files are written, more are in progress.
  const some = await waitFor(() => lakeFiles(store), (f) => f.length >= 5, 60_000, 20);
  assert.ok(some.length >= 5, `no files before the kill:\n${first.output}`);
  await first.kill("SIGKILL");
  const expected = await expectedFiles(c.nc);
  assert.ok(expected.size >= 20, `expected at least 20 complete files, got ${expected.size}`);
  assert.ok(some.length < expected.size, `the first process finished (${some.length} of ${expected.size} files) before it was killed`);
  const second = startLakeRaw(c, env);
  await waitFor(() => lakeFiles(store), (f) => f.length >= expected.size, 60_000);
  await second.kill("SIGTERM");
  await assertLakeIsOnePass(c, store, expected, second.output);
}
