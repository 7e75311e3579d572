// `sluice actor <name>` started alone against a 3-node JetStream cluster with SLUICE_REPLICAS=3:
// no `sluice up`, no harness set-up of buckets. The process creates the buckets it opens at 3
// replicas itself (as its own generated NATS user), and the list it creates them from
// (actors/replication.ts sluiceBuckets) is exactly what each process's NATS user may create.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { loadConfig } from "../../config/index.ts";
import { ACTOR_NAMES, streamOverrides, type ActorName } from "../../actors/pipeline.ts";
import { bucketStream, ensureBucketReplicas, sluiceBuckets } from "../../actors/replication.ts";
import { keyedBuckets } from "../../actors/runtime/keyed/ownership.ts";
import { processGrants } from "../../auth/nats-permissions.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { NatsCluster } from "../harness/nats-cluster.ts";
import { probeRead, waitFor } from "../harness/wait.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const PARTITIONS = loadConfig({}).partitions;

interface Ctx {
  cluster: NatsCluster;
  nc: NatsConnection;
  stateDir: string;
  children: ChildProcess[];
}

const test = suite<Ctx>("cluster: a `sluice actor` process started alone creates its buckets at SLUICE_REPLICAS");

test.before(async (ctx) => {
  ctx.cluster = await NatsCluster.start(3);
  ctx.nc = await ctx.cluster.probe();
  ctx.stateDir = mkdtempSync(join(tmpdir(), "sluice-actor-alone-"));
  ctx.children = [];
});

test.after(async (ctx) => {
  for (const child of ctx.children ?? []) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
  await ctx.nc?.close();
  await ctx.cluster?.stop();
  if (ctx.stateDir) rmSync(ctx.stateDir, { recursive: true, force: true });
});

const info = (nc: NatsConnection, name: string): Promise<StreamInfo | undefined> =>
  probeRead(`stream ${name} info`, async () => (await jetstreamManager(nc, { timeout: 10_000 })).streams.info(name).catch((err: Error) => {
    if (/stream not found/i.test(err.message)) return undefined;
    throw err;
  }));

/** `sluice actor <actors>` as its own generated user (when the harness runs authorization), nothing set up for it but the streams. */
async function startActorAlone(ctx: Ctx, actors: ActorName[]): Promise<{ child: ChildProcess; output: () => string }> {
  await ctx.cluster.ensureProcessUser(actors, PARTITIONS);
  const credentials = ctx.cluster.node(ctx.cluster.names[0]!).credentialsDir;
  const env = { ...process.env, NATS_URL: ctx.cluster.url, SLUICE_REPLICAS: "3", SLUICE_STATE_DIR: ctx.stateDir, SLUICE_LOG_LEVEL: "info", ...(credentials ? { SLUICE_NATS_CREDENTIALS: credentials } : {}) };
  const child = spawn(process.execPath, [BIN, "actor", ...actors], { env, stdio: ["ignore", "pipe", "pipe"] });
  ctx.children.push(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return { child, output: () => output };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await withDeadline(() => exited, { what: "sluice actor to stop on SIGTERM", timeoutMs: 60_000 });
}

test("each process's bucket list is exactly the buckets its NATS user may create", () => {
  const creatable = (actors: readonly ActorName[]) => processGrants(actors, "u", PARTITIONS).permissions().publish.allow
    .map((s) => /^\$JS\.API\.STREAM\.CREATE\.((?:KV|OBJ)_.+)$/.exec(s)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
  for (const actors of [...ACTOR_NAMES.map((a) => [a]), ["window", "detect"], [...ACTOR_NAMES]] as ActorName[][]) {
    const listed = sluiceBuckets(PARTITIONS, actors).map(bucketStream).sort();
    assert.equal(listed, creatable(actors), `process of ${actors.join(",")}`);
  }
  assert.equal(sluiceBuckets(PARTITIONS).map(bucketStream).sort(), sluiceBuckets(PARTITIONS, ACTOR_NAMES).map(bucketStream).sort(), "every bucket = every actor's");
});

test("sluice actor window alone, SLUICE_REPLICAS=3: its members, leases and checkpoint buckets are created at 3 replicas, leases read from the leader", async (ctx) => {
  const { nc } = ctx;
  // The streams as an operator's admin creates them; no bucket exists yet.
  await withDeadline(async () => ensureStreams(await jetstreamManager(nc, { timeout: 10_000 }), streamOverrides(loadConfig({ SLUICE_REPLICAS: "3" }))), { what: "streams at 3 replicas", timeoutMs: 60_000 });
  const mine = sluiceBuckets(PARTITIONS, ["window"]);
  assert.equal(mine.map((s) => s.bucket).sort(), Object.values(keyedBuckets("window")).sort());
  for (const spec of mine) assert.is(await info(nc, bucketStream(spec)), undefined, `${spec.bucket} does not exist before the actor starts`);

  const actor = await startActorAlone(ctx, ["window"]);
  // Running: its instance is a member, so every bucket it opens is open.
  const members = await waitFor(async () => {
    if (actor.child.exitCode !== null) throw new Error(`sluice actor window exited ${actor.child.exitCode}:\n${actor.output()}`);
    const kv = await new Kvm(nc).open(keyedBuckets("window").members);
    let n = 0;
    for await (const _ of await kv.keys()) n++;
    return n;
  }, (n) => n > 0, 90_000, 300);
  assert.ok(members > 0, `the actor joined its members bucket:\n${actor.output()}`);
  for (const spec of mine) {
    const got = await info(nc, bucketStream(spec));
    assert.is(got?.config.num_replicas, 3, `${spec.bucket}: 3 replicas`);
  }
  assert.is((await info(nc, `KV_${keyedBuckets("window").leases}`))?.config.allow_direct, false, "leases: no direct gets from a lagging follower");
  assert.match(actor.output(), /buckets at SLUICE_REPLICAS=3: .*KV_sluice-window-members created with 3/);
  await stop(actor.child);
});

test("an existing bucket at another count is left as it is, with a warning that says how to scale it (the actor's user may not change it)", async (ctx) => {
  const { nc } = ctx;
  const members = keyedBuckets("detect").members;
  await withDeadline(() => new Kvm(nc).create(members, { history: 1, ttl: 4_000 }), { what: `kv ${members} create`, timeoutMs: 20_000 });
  const actor = await startActorAlone(ctx, ["detect"]);
  const leases = await waitFor(() => info(nc, `KV_${keyedBuckets("detect").leases}`), (i) => i !== undefined, 90_000, 300);
  assert.is(leases?.config.num_replicas, 3, "a missing bucket of the same process: created at 3");
  const warned = await waitFor(async () => actor.output(), (o) => /sluice-detect-members has 1 replica\(s\), not SLUICE_REPLICAS=3.*run sluice up with SLUICE_REPLICAS=3/.test(o), 30_000, 200);
  assert.match(warned, /left as it is/);
  assert.is((await info(nc, `KV_${members}`))?.config.num_replicas, 1);
  await stop(actor.child);
  // The admin path (`sluice up`) scales it.
  const changed = await ensureBucketReplicas(nc, loadConfig({ SLUICE_REPLICAS: "3" }), { actors: ["detect"] });
  assert.ok(changed.includes(`KV_${members} 1→3`), changed.join(", "));
});

test.run();
