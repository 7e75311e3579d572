// SLUICE_REPLICAS on a 3-node cluster: what `sluice up` sets up as admin puts every stream and
// every bucket sluice opens at 3 replicas before an actor opens one, scales existing ones in
// place, and the buckets it creates have the options their openers would have given them.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { surfaceHookErrors } from "../harness/hooks.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { loadConfig, ConfigError } from "../../config/index.ts";
import { STREAMS } from "../../subjects/catalog.ts";
import { streamOverrides } from "../../actors/pipeline.ts";
import { ensureConsumer, ensureStreams, ReplicasUnavailableError } from "../../subjects/setup.ts";
import { CONSUMERS } from "../../subjects/consumers.ts";
import { waitFor } from "../harness/wait.ts";
import { bucketStream, ensureBucketReplicas, KEYED_MEMBER_TTL_MS, sluiceBuckets } from "../../actors/replication.ts";
import { Ownership, keyedBuckets } from "../../actors/runtime/keyed/ownership.ts";
import { CheckpointStore } from "../../actors/runtime/keyed/checkpoint.ts";
import { REGISTRY_BUCKET } from "../../subjects/registry/registry.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { NatsCluster } from "../harness/nats-cluster.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { setUpLikeSluiceUp } from "../harness/nats-auth.ts";

interface Ctx {
  cluster: NatsCluster;
  nc: NatsConnection;
}

const SUITE = "cluster: SLUICE_REPLICAS for every stream and bucket";
const test = surfaceHookErrors(suite<Ctx>(SUITE), SUITE);

const info = (nc: NatsConnection, name: string): Promise<StreamInfo> =>
  withDeadline(async () => (await jetstreamManager(nc, { timeout: 10_000 })).streams.info(name), { what: `stream ${name} info`, timeoutMs: 15_000 });

test.before(async (ctx) => {
  ctx.cluster = await NatsCluster.start(3);
  ctx.nc = await ctx.cluster.probe();
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.cluster?.stop();
});

test("SLUICE_REPLICAS is 1 by default and refuses 0 and 6, naming the variable", () => {
  assert.is(loadConfig({}).replicas, 1);
  assert.is(loadConfig({ SLUICE_REPLICAS: "3" }).replicas, 3);
  for (const bad of ["0", "6", "three"]) {
    assert.throws(() => loadConfig({ SLUICE_REPLICAS: bad }), (err: Error) => err instanceof ConfigError && err.message.includes("SLUICE_REPLICAS"));
  }
});

test("an existing one-replica stream and bucket are scaled to 3 in place, their data kept", async ({ nc }) => {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  // As a single-server deployment left them: RAW and the registry at one replica, with data.
  await ensureStreams(jsm, streamOverrides(loadConfig({})));
  const kv = await new Kvm(nc).create(REGISTRY_BUCKET, { history: 5 });
  await kv.put("probe", "kept");
  await withDeadline(() => jetstream(nc, { timeout: 10_000 }).publish("raw.iot.scale", "{}", { msgID: "scale-1" }), { what: "publish to RAW", timeoutMs: 15_000 });
  assert.is((await info(nc, "RAW")).config.num_replicas, 1);

  await setUpLikeSluiceUp(nc, loadConfig({ SLUICE_REPLICAS: "3" }));
  const raw = await info(nc, "RAW");
  assert.is(raw.config.num_replicas, 3, "RAW scaled to 3 replicas");
  assert.is(raw.state.messages, 1, "RAW kept its message");
  const registry = await info(nc, `KV_${REGISTRY_BUCKET}`);
  assert.is(registry.config.num_replicas, 3, "the registry bucket scaled to 3 replicas");
  assert.is((await (await new Kvm(nc).open(REGISTRY_BUCKET)).get("probe"))?.string(), "kept");
});

test("after the set-up every catalog stream and every bucket sluice opens has 3 replicas", async ({ nc }) => {
  const partitions = loadConfig({}).partitions;
  const names = [...Object.keys(STREAMS), ...sluiceBuckets(partitions).map(bucketStream)];
  const counts = await Promise.all(names.map(async (n) => [n, (await info(nc, n)).config.num_replicas] as const));
  const wrong = counts.filter(([, r]) => r !== 3);
  assert.equal(wrong, [], `streams not at 3 replicas: ${JSON.stringify(wrong)}`);
  // Leases are fencing tokens: on 3 replicas they are read from the leader, never from a lagging follower.
  for (const actor of ["validate", "window", "detect"]) assert.is((await info(nc, `KV_${keyedBuckets(actor).leases}`)).config.allow_direct, false, `${actor}'s leases: no direct gets`);
  // The keyed actors' buckets are among them (validate, window, detect read keyed).
  for (const actor of ["validate", "window", "detect"]) assert.ok(names.includes(`KV_${keyedBuckets(actor).leases}`), `${actor}'s leases bucket is set up`);
});

test("a durable consumer sluice creates on a 3-replica stream has 3 replicas too (it inherits the stream's)", async ({ nc }) => {
  const info = await withDeadline(async () => ensureConsumer(await jetstreamManager(nc, { timeout: 10_000 }), CONSUMERS.sinkEvents), { what: "ensure the sink's consumer", timeoutMs: 20_000 });
  assert.is(info.config.num_replicas ?? 0, 0, "the consumer config leaves num_replicas to the stream");
  const followers = await waitFor(async () => (await withDeadline(async () => (await jetstreamManager(nc, { timeout: 10_000 })).consumers.info("EVENTS", CONSUMERS.sinkEvents.durable_name), { what: "consumer info", timeoutMs: 15_000 })).cluster?.replicas?.length ?? 0, (n) => n === 2, 30_000);
  assert.is(followers, 2, "a leader and two followers");
});

test("the set-up is idempotent: a second run changes nothing", async ({ nc }) => {
  const changed = await ensureBucketReplicas(nc, loadConfig({ SLUICE_REPLICAS: "3" }));
  assert.equal(changed, []);
});

test("SLUICE_REPLICAS=3 on a server that runs alone is refused with what to do, for streams and buckets", async () => {
  const single = await NatsServer.start();
  const nc = await connect({ servers: single.url });
  try {
    const config = loadConfig({ SLUICE_REPLICAS: "3" });
    const refusal = await ensureStreams(await jetstreamManager(nc), streamOverrides(config)).then(() => undefined, (err: Error) => err);
    assert.instance(refusal, ReplicasUnavailableError);
    assert.match(refusal!.message, /SLUICE_REPLICAS=3 needs a JetStream cluster.*set SLUICE_REPLICAS=1/);
    // An existing one-replica bucket: 2.9 accepts the update and keeps one replica, which is refused too.
    await new Kvm(nc).create(REGISTRY_BUCKET, { history: 5 });
    const bucketRefusal = await ensureBucketReplicas(nc, config).then(() => undefined, (err: Error) => err);
    assert.instance(bucketRefusal, ReplicasUnavailableError);
  } finally {
    await nc.close();
    await single.stop();
  }
});

test("the keyed buckets created by the set-up have the options their openers give them", async () => {
  // On a server of its own, the openers create the buckets as they would without the set-up.
  const single = await NatsServer.start();
  const nc = await connect({ servers: single.url });
  try {
    await Ownership.open(nc, "window");
    await CheckpointStore.open(nc, "window");
    const specs = sluiceBuckets(loadConfig({}).partitions).filter((s) => s.bucket.startsWith("sluice-window-"));
    assert.is(specs.length, 3);
    for (const spec of specs) {
      const made = (await info(nc, bucketStream(spec))).config;
      const members = spec.kind === "kv" && spec.bucket === keyedBuckets("window").members;
      if (members) assert.is(made.max_age, KEYED_MEMBER_TTL_MS * 1_000_000, "the members TTL equals Ownership.open's default");
      if (spec.kind === "kv") assert.is(made.max_msgs_per_subject, spec.opts.history, `${spec.bucket}: history`);
      if (spec.kind === "kv") assert.is(made.max_age, (spec.opts.ttl ?? 0) * 1_000_000, `${spec.bucket}: ttl`);
      if (spec.kind === "obj") assert.is(made.storage, "file", `${spec.bucket}: file storage`);
    }
  } finally {
    await nc.close();
    await single.stop();
  }
});

test.run();
