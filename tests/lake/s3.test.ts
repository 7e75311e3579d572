// The lake on a real S3-compatible server (s3rver, its own process): a SIGKILL of the sink
// mid-file, and an outage of the server itself while messages keep coming. Afterwards the bucket
// holds exactly the files one uninterrupted pass cuts, each RAW message once.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { streamOverrides } from "../../actors/pipeline.ts";
import { loadConfig } from "../../config/index.ts";
import { LakeStore, openMemoryEngine, type LakeEngine } from "../../lake/index.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { NatsServer } from "../harness/nats-server.ts";
import type { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { assertLakeIsOnePass, crashAndRecover, expectedFiles, lakeFiles, publishWorkload, startLakeRaw } from "./env.ts";
import { S3rver } from "./s3rver.ts";

const test = suite("lake sink (S3): SIGKILL mid-file and a server outage lose nothing, duplicate nothing");

interface World {
  nats: NatsServer;
  nc: NatsConnection;
  stateDir: string;
  env: Record<string, string>;
}
const ctx = { procs: [] as SluiceProcess[], worlds: [] as World[] } as { s3: S3rver; engine: LakeEngine; procs: SluiceProcess[]; worlds: World[] };

/** A fresh NATS server and state dir: each test has its own RAW and its own keyed checkpoints. */
async function world(prefix: string): Promise<World> {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-lake-s3-"));
  await ensureStreams(await jetstreamManager(nc), streamOverrides(loadConfig({ SLUICE_STATE_DIR: stateDir })));
  const w = { nats, nc, stateDir, env: { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, ...ctx.s3.env(prefix) } };
  ctx.worlds.push(w);
  return w;
}

test.before(async () => {
  ctx.s3 = await S3rver.start("lake");
  ctx.engine = await openMemoryEngine();
});

test.after(async () => {
  for (const p of ctx.procs) await p.kill("SIGKILL");
  await ctx.engine?.close();
  for (const w of ctx.worlds) {
    await w.nc.close();
    await w.nats.stop();
    rmSync(w.stateDir, { recursive: true, force: true });
  }
  await ctx.s3?.stop();
});

const locationOf = (env: Record<string, string>) => loadConfig(env).lake;

test("SIGKILL mid-file, then the same objects as one uninterrupted pass", async () => {
  const w = await world("crash");
  await publishWorkload(w.nc, 2_500);
  await crashAndRecover({ nc: w.nc, engine: ctx.engine, procs: ctx.procs }, locationOf(w.env), w.env);
});

test("S3 down while messages arrive: writes wait, then every message is stored once", async () => {
  const w = await world("outage");
  const c = { nc: w.nc, engine: ctx.engine, procs: ctx.procs };
  const store = new LakeStore(locationOf(w.env), ctx.engine.client);
  await publishWorkload(w.nc, 800);
  const sink = startLakeRaw(c, w.env);
  await waitFor(() => lakeFiles(store), (f) => f.length >= 3, 60_000, 20);
  await ctx.s3.kill();
  await publishWorkload(w.nc, 1_500);
  const waited = await waitFor(async () => sink.output, (o) => /retrying/.test(o), 60_000, 100);
  assert.match(waited, /retrying/, "the sink never noticed the outage");
  assert.ok(sink.child.exitCode === null, `the sink exited during the outage:\n${sink.output}`);
  await ctx.s3.launch();
  const expected = await expectedFiles(w.nc);
  await waitFor(() => lakeFiles(store), (f) => f.length >= expected.size, 60_000);
  await sink.kill("SIGTERM");
  await assertLakeIsOnePass(c, store, expected, sink.output);
});

test.run();
