// `sluice actor <name>` started alone against a 3-node JetStream cluster: no `sluice up`, no harness
// set-up of buckets. With SLUICE_REPLICAS=3 the process creates the buckets it opens at 3 replicas
// itself (as its own generated NATS user), and the list it creates them from (actors/replication.ts
// sluiceBuckets) is exactly what each process's NATS user may create. Without SLUICE_REPLICAS (1)
// against 3-replica streams and buckets, as its own user and as a user that may do everything, it
// runs and changes nothing: it warns, naming sluice up (subjects/setup.ts SetupScope).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { surfaceHookErrors } from "../harness/hooks.ts";
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
import { ensureStreams, StreamMissingError } from "../../subjects/setup.ts";
import { STREAMS } from "../../subjects/catalog.ts";
import { closeNats, connectNats, generatedUserFor } from "../../nats/connect.ts";
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

const SUITE = "cluster: a `sluice actor` process started alone creates its buckets at SLUICE_REPLICAS";
const test = surfaceHookErrors(suite<Ctx>(SUITE), SUITE);

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

/**
 * `sluice actor <actors>`, nothing set up for it but the streams, SLUICE_REPLICAS as given (absent
 * when `replicas` is undefined). Signed in as its own generated user (`as: "own"`, default) or as the
 * generated admin (`"admin"`, through NATS_NKEY) when the harness runs authorization, else with no
 * credentials on a server without authorization.
 */
async function startActorAlone(ctx: Ctx, actors: ActorName[], opts: { replicas?: string; as?: "own" | "admin" } = { replicas: "3" }): Promise<{ child: ChildProcess; output: () => string }> {
  await ctx.cluster.ensureProcessUser(actors, PARTITIONS);
  const credentials = ctx.cluster.node(ctx.cluster.names[0]!).credentialsDir;
  const env: Record<string, string | undefined> = { ...process.env, NATS_URL: ctx.cluster.url, SLUICE_STATE_DIR: ctx.stateDir, SLUICE_LOG_LEVEL: "info", ...(credentials ? { SLUICE_NATS_CREDENTIALS: credentials } : {}) };
  for (const name of ["SLUICE_REPLICAS", "SLUICE_RAW_MAX_AGE_HOURS", "NATS_NKEY", "NATS_CREDS", "NATS_USER", "NATS_TOKEN"]) delete env[name];
  if (opts.replicas !== undefined) env.SLUICE_REPLICAS = opts.replicas;
  if (opts.as === "admin" && credentials) {
    const admin = generatedUserFor(credentials, "sluice:up");
    if (!admin) throw new Error(`no generated admin user in the harness's credentials (clients index: sluice:up)`);
    env.NATS_NKEY = admin.nkey_seed;
  }
  const child = spawn(process.execPath, [BIN, "actor", ...actors], { env, stdio: ["ignore", "pipe", "pipe"] });
  ctx.children.push(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return { child, output: () => output };
}

async function memberKeys(nc: NatsConnection, bucket: string): Promise<Set<string>> {
  const kv = await new Kvm(nc).open(bucket);
  const keys = new Set<string>();
  for await (const k of await kv.keys()) keys.add(k);
  return keys;
}

/** Resolves once the actor has a member key of its own in `bucket` (it opened every bucket and runs); rejects if it exits first. */
async function joined(nc: NatsConnection, actor: { child: ChildProcess; output: () => string }, bucket: string, before: ReadonlySet<string>): Promise<void> {
  // An exit ends the wait at once (the probe's answer), rather than after the whole deadline.
  const fresh = await waitFor(async () => actor.child.exitCode !== null ? "exited" : [...(await memberKeys(nc, bucket))].filter((k) => !before.has(k)), (keys) => keys === "exited" || keys.length > 0, 90_000, 300);
  if (fresh === "exited") throw new Error(`sluice actor exited ${actor.child.exitCode}:\n${actor.output()}`);
  assert.ok(fresh.length > 0, `the actor joined ${bucket}:\n${actor.output()}`);
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

test("no streams yet: a process of actors creates them at SLUICE_REPLICAS where its user may, and its own user is refused saying to run sluice up", async (ctx) => {
  const { nc } = ctx;
  const overrides = streamOverrides(loadConfig({ SLUICE_REPLICAS: "3" }));
  const credentials = ctx.cluster.node(ctx.cluster.names[0]!).credentialsDir;
  if (credentials) {
    // Under the harness's authorization: the window process's own user may check streams, not create them.
    await ctx.cluster.ensureProcessUser(["window"], PARTITIONS);
    const own = await connectNats(ctx.cluster.url, loadConfig({ SLUICE_NATS_CREDENTIALS: credentials, SLUICE_REPLICAS: "3" }), "sluice:window");
    try {
      const refusal = await withDeadline(async () => ensureStreams(await jetstreamManager(own, { timeout: 10_000 }), overrides, { createOnly: true }), { what: "streams as the window user", timeoutMs: 60_000 }).then(() => undefined, (err: Error) => err);
      assert.instance(refusal, StreamMissingError);
      assert.match(refusal!.message, /^stream RAW does not exist and this process's NATS user may not create it \(.*STREAM\.CREATE\.RAW.*\); run sluice up/);
    } finally {
      await closeNats(own);
    }
    assert.is(await info(nc, "RAW"), undefined, "nothing created by the refused user");
  }
  // A user that may create streams (no authorization, or an admin's): every missing stream is created at 3.
  const created = await withDeadline(async () => ensureStreams(await jetstreamManager(nc, { timeout: 10_000 }), overrides, { createOnly: true }), { what: "streams create-only", timeoutMs: 60_000 });
  assert.equal(created, Object.keys(STREAMS).map((n) => `${n} created with 3`));
  for (const name of Object.keys(STREAMS)) assert.is((await info(nc, name))?.config.num_replicas, 3, `${name}: 3 replicas`);
});

test("sluice actor window alone, SLUICE_REPLICAS=3: its members, leases and checkpoint buckets are created at 3 replicas, leases read from the leader", async (ctx) => {
  const { nc } = ctx;
  // The streams as an operator's admin creates them; no bucket exists yet.
  await withDeadline(async () => ensureStreams(await jetstreamManager(nc, { timeout: 10_000 }), streamOverrides(loadConfig({ SLUICE_REPLICAS: "3" }))), { what: "streams at 3 replicas", timeoutMs: 60_000 });
  const mine = sluiceBuckets(PARTITIONS, ["window"]);
  assert.equal(mine.map((s) => s.bucket).sort(), Object.values(keyedBuckets("window")).sort());
  for (const spec of mine) assert.is(await info(nc, bucketStream(spec)), undefined, `${spec.bucket} does not exist before the actor starts`);

  const actor = await startActorAlone(ctx, ["window"], { replicas: "3" });
  // Running: its instance is a member, so every bucket it opens is open.
  await joined(nc, actor, keyedBuckets("window").members, new Set());
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
  const actor = await startActorAlone(ctx, ["detect"], { replicas: "3" });
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

const HOURS = 3600 * 1_000_000_000;

/**
 * 3-replica streams and window buckets, RAW kept 48 h (as `sluice up` with SLUICE_RAW_MAX_AGE_HOURS=48
 * leaves it); then `sluice actor window` without SLUICE_REPLICAS or SLUICE_RAW_MAX_AGE_HOURS (1
 * replica, 24 h): it must run, change nothing and say, for each, what it left and how to change it.
 */
async function startWithoutReplicas(ctx: Ctx, as: "own" | "admin"): Promise<void> {
  const { nc } = ctx;
  const raw = (await info(nc, "RAW"))!;
  if (raw.config.max_age !== 48 * HOURS) await withDeadline(async () => (await jetstreamManager(nc, { timeout: 10_000 })).streams.update("RAW", { ...raw.config, max_age: 48 * HOURS }), { what: "RAW max_age 48 h", timeoutMs: 20_000 });
  const streams = Object.keys(STREAMS);
  const mine = sluiceBuckets(PARTITIONS, ["window"]);
  const counts = async () => Promise.all([...streams, ...mine.map(bucketStream)].map(async (n) => `${n}:${(await info(nc, n))?.config.num_replicas}`));
  const atThree = [...streams, ...mine.map(bucketStream)].map((n) => `${n}:3`);
  assert.equal(await counts(), atThree, "before: every stream and window bucket at 3");

  const members = keyedBuckets("window").members;
  const actor = await startActorAlone(ctx, ["window"], { as });
  await joined(nc, actor, members, await memberKeys(nc, members));
  const out = await waitFor(async () => actor.output(), (o) => streams.every((n) => o.includes(`stream ${n} has 3 replica(s)`)) && mine.every((b) => o.includes(`bucket ${b.bucket} has 3 replica(s)`)), 30_000, 200);
  for (const n of streams) assert.match(out, new RegExp(`stream ${n} has 3 replica\\(s\\), not SLUICE_REPLICAS=1; left as it is .*: to scale it, run sluice up with SLUICE_REPLICAS=1 once; if 3 is right, set SLUICE_REPLICAS=3 for this process too`), `warned for ${n}`);
  for (const b of mine) assert.match(out, new RegExp(`bucket ${b.bucket} has 3 replica\\(s\\), not SLUICE_REPLICAS=1; left as it is`), `warned for ${b.bucket}`);
  assert.match(out, /stream RAW has max_age=172800000000000, not 86400000000000 \(SLUICE_RAW_MAX_AGE_HOURS\); left as it is .*give this process the same SLUICE_RAW_MAX_AGE_HOURS as sluice up/);
  assert.not.match(out, /Permissions Violation|ConfigConflictError|NATS refused/);
  assert.is(actor.child.exitCode, null, `still running:\n${out}`);
  const credentials = ctx.cluster.node(ctx.cluster.names[0]!).credentialsDir;
  if (credentials) {
    const expected = generatedUserFor(credentials, as === "admin" ? "sluice:up" : "sluice:window")!.user;
    const seen = (await Promise.all(ctx.cluster.names.map((n) => ctx.cluster.node(n).connections()))).flat().filter((c) => c.name.startsWith("sluice:window"));
    assert.ok(seen.some((c) => c.user === expected), `signed in as ${expected}: ${JSON.stringify(seen)}`);
  }

  assert.equal(await counts(), atThree, "after: every stream and window bucket still at 3");
  assert.is((await info(nc, "RAW"))?.config.max_age, 48 * HOURS, "RAW keeps 48 h");
  assert.is((await info(nc, `KV_${keyedBuckets("window").leases}`))?.config.allow_direct, false, "leases still from the leader only");
  await stop(actor.child);
  assert.is(actor.child.exitCode, 0, `stopped cleanly:\n${actor.output()}`);
}

test("3-replica streams, sluice actor window alone without SLUICE_REPLICAS as its own NATS user: it runs, nothing is rescaled or retuned, it warns naming sluice up", (ctx) => startWithoutReplicas(ctx, "own"));

test("the same signed in as the generated admin (no authorization: without credentials), who may change streams: nothing is rescaled or retuned either", (ctx) => startWithoutReplicas(ctx, "admin"));

test.run();
