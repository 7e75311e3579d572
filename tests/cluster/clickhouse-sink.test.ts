import { suite } from "uvu";
import * as assert from "uvu/assert";
import { surfaceHookErrors } from "../harness/hooks.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { ClickHouseCluster } from "../harness/clickhouse-cluster.ts";
import { ackFloor, clusterEvent, eventCounts, publishWhile, sinkSettled, startEventsSink } from "../harness/cluster-sink.ts";
import { scalar } from "../harness/run-snapshot.ts";
import type { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { waitFor } from "../harness/wait.ts";
import { identityCases, sinkDiesBetweenInsertAndAck } from "../sink/identity-rows.ts";
import { migrate, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import { metricsFor } from "../../actors/runtime/metrics.ts";
import { ensureStreams } from "../../subjects/setup.ts";

/**
 * The sinks' real code path into a replicated ClickHouse cluster (ZooKeeper, one shard of two
 * clickhouse-server 18.16 replicas, CLICKHOUSE_CLUSTER mode): rows land once with and without
 * FINAL and read from either replica, and a replica SIGKILLed while the events sink inserts loses
 * nothing the sink acked, while the other replica keeps answering reads.
 */

interface Ctx {
  cluster: ClickHouseCluster;
  nats: NatsServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** One cluster-mode connection per replica; the sinks write through the first. */
  nodes: OpenClickHouse[];
  dataDir: string;
}

const SUITE = "ClickHouse sinks into a replicated cluster (ZooKeeper + two 18.16 replicas)";
const test = surfaceHookErrors(suite<Ctx>(SUITE), SUITE);
const quiet = { info() {}, warn() {} };
/**
 * Shorter than the replicas' ZooKeeper session (15 s): a killed replica returns while its old
 * session still holds its place, and takes its part again once that session expires.
 */
const OUTAGE_MS = 8_000;

test.before(async (ctx) => {
  ctx.cluster = await ClickHouseCluster.start();
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.jsm = await jetstreamManager(ctx.nc);
  await ensureStreams(ctx.jsm);
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
  ctx.nodes = [];
  for (const replica of ctx.cluster.replicas) ctx.nodes.push(await openClickHouse({ url: replica.url, dataDir: ctx.dataDir, cluster: ctx.cluster.name, logger: quiet }));
  await migrate(ctx.nodes[0]!.client, ctx.nodes[0]!.caps);
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  for (const node of ctx.nodes ?? []) await node.close();
  await ctx.nats?.stop();
  await ctx.cluster?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

test("every table a sink writes: rows inserted through one node land once on both replicas; the same batch again is dropped by replicated block dedup", async ({ nodes }) => {
  const [a, b] = nodes;
  for (const [name, c] of Object.entries(identityCases(a!.caps, "cluster-ids"))) {
    const rows = Array.from({ length: 10 }, (_, i) => c.row(i));
    await c.insert(a!.client, rows);
    // A sink retrying a batch whose INSERT went through unacknowledged sends the same block.
    await c.insert(a!.client, rows);
    const identity = `concat(${c.identity.map((col) => `toString(${col})`).join(", '|', ")})`;
    for (const [i, node] of [a!, b!].entries()) {
      const stored = await waitFor(() => scalar(node.client, `SELECT count() FROM ${c.table}`), (n) => n >= 10, 30_000);
      assert.is(stored, 10, `${name} on replica ${i + 1}: count() without FINAL`);
      assert.is(await scalar(node.client, `SELECT uniqExact(${identity}) FROM ${c.table}`), 10, `${name} on replica ${i + 1}: distinct identities`);
    }
  }
});

test("the events sink's inserts land once (with and without FINAL) and read the same from either replica; a sink killed between insert and ack adds nothing", async ({ nc, jsm, nodes }) => {
  const [a, b] = nodes;
  const n = 300;
  const js = jetstream(nc);
  await Promise.all(Array.from({ length: n }, (_, i) => clusterEvent("land", i)).map((e) => js.publish(`events.iot.${Number(e.event_id.split("-")[1]) % 4}`, JSON.stringify(e), { msgID: e.event_id })));
  const stop = startEventsSink(nc, a!);
  try {
    assert.ok(await waitFor(() => sinkSettled(jsm), Boolean, 60_000, 200), "the sink acked every message");
  } finally {
    await stop();
  }
  for (const [i, node] of [a!, b!].entries()) {
    const got = await waitFor(() => eventCounts(node, "land-"), (c) => c.rows >= n, 30_000);
    assert.equal(got, { rows: n, final: n, distinct: n }, `replica ${i + 1}`);
  }
  assert.is(metricsFor("clickhouse-sink-events").deadLettered, 0);
  // The redelivery path: the sink dies after its INSERT, before its acks; the restarted sink looks the rows up through the Distributed table.
  const out = await sinkDiesBetweenInsertAndAck({ nc, jsm, client: a!.client, caps: a!.caps }, { source: "txn", durable: "test-cluster-crash", n: 25, mode: "crash" });
  assert.ok(out.settled, "the restarted sink acked every redelivered message");
  assert.is(out.rows, 25, `count() without FINAL on the sink's node: ${out.rows} rows for 25 messages`);
  const onOther = await waitFor(() => scalar(b!.client, "SELECT count() FROM sluice.events WHERE source = 'txn'"), (c) => c >= 25, 30_000);
  assert.is(onOther, 25, "the other replica holds each row once");
});

interface Outage {
  /** count() of the run's rows on the surviving replica, read every 500 ms while the other was down. */
  readsWhileDown: number[];
  /** The sink's ack floor a second into the outage and at its end. */
  ackFloors: [number, number];
  acked: number;
}

/**
 * Runs the events sink through `sinkNode` while events are published, SIGKILLs replica `victim`
 * for {@link OUTAGE_MS} once a quarter is out, then checks that both replicas end with every
 * event JetStream acknowledged, once (without and with FINAL).
 */
async function killDuringInserts(ctx: Ctx, opts: { victim: number; prefix: string; sinkNode: OpenClickHouse }): Promise<Outage> {
  const { nc, jsm, nodes, cluster } = ctx;
  const { victim, prefix } = opts;
  const survivor = nodes[1 - victim]!;
  const dead: ClickHouseServer = cluster.replicas[victim]!;
  const n = 600;
  const readsWhileDown: number[] = [];
  const ackFloors: number[] = [];
  const stop = startEventsSink(nc, opts.sinkNode);
  let acked: Set<string>;
  try {
    acked = await publishWhile(nc, prefix, n, async () => {
      await dead.kill("SIGKILL");
      const downUntil = Date.now() + OUTAGE_MS;
      await sleep(1_000);
      ackFloors.push(await ackFloor(jsm));
      // The survivor answers reads while the other replica is gone.
      while (Date.now() < downUntil) {
        readsWhileDown.push(await scalar(survivor.client, `SELECT count() FROM sluice.events WHERE startsWith(event_id, '${prefix}-')`));
        await sleep(500);
      }
      ackFloors.push(await ackFloor(jsm));
      await dead.restart();
    });
    assert.ok(acked.size > n * 0.9, `JetStream acknowledged ${acked.size} of ${n} publishes`);
    assert.ok(readsWhileDown.length >= 3, `reads on the surviving replica answered during the outage (${readsWhileDown.length})`);
    assert.ok(await waitFor(() => sinkSettled(jsm), Boolean, 120_000, 250), `the sink acked every message after replica ${victim + 1} returned:\n${cluster.logs()}`);
  } finally {
    await stop();
  }
  for (const [i, node] of nodes.entries()) {
    const got = await waitFor(() => eventCounts(node, `${prefix}-`), (c) => c.rows >= acked.size, 90_000, 500);
    assert.equal(got, { rows: acked.size, final: acked.size, distinct: acked.size }, `replica ${i + 1}: every acked event once, without and with FINAL`);
    const ids = `'${[...acked].join("','")}'`;
    assert.is(await scalar(node.client, `SELECT count() FROM sluice.events WHERE event_id IN (${ids})`), acked.size, `replica ${i + 1}: the rows are the acked events`);
  }
  return { readsWhileDown, ackFloors: ackFloors as [number, number], acked: acked.size };
}

test("SIGKILL of the replica the sink does not write through, during inserts: nothing lost, reads keep working, it catches up on return", async (ctx) => {
  const { readsWhileDown, ackFloors } = await killDuringInserts(ctx, { victim: 1, prefix: "kill-other", sinkNode: ctx.nodes[0]! });
  assert.ok(readsWhileDown.at(-1)! > readsWhileDown[0]!, `inserts went on through the live replica during the outage (reads ${readsWhileDown.join(", ")})`);
  assert.ok(ackFloors[1] > ackFloors[0], `without a quorum the sink acked during the outage (ack floor ${ackFloors.join(" → ")})`);
});

test("SIGKILL of the replica the sink writes through, during inserts: the sink waits it out, the other replica answers reads, every acked event lands once", async (ctx) => {
  const { readsWhileDown, acked } = await killDuringInserts(ctx, { victim: 0, prefix: "kill-own", sinkNode: ctx.nodes[0]! });
  assert.ok(readsWhileDown.at(-1)! < acked, `the outage held inserts back (reads ${readsWhileDown.join(", ")} of ${acked}): the sink had rows to retry`);
});

test("CLICKHOUSE_INSERT_QUORUM=2: while one replica is down the sink acks nothing (no acked row on one replica only), then every acked event lands once", async (ctx) => {
  const quorum = await openClickHouse({ url: ctx.cluster.replicas[0]!.url, dataDir: ctx.dataDir, cluster: ctx.cluster.name, insertQuorum: 2, logger: quiet });
  try {
    const { ackFloors } = await killDuringInserts(ctx, { victim: 1, prefix: "quorum", sinkNode: quorum });
    assert.is(ackFloors[1], ackFloors[0], `no ack while the quorum could not be met (ack floor ${ackFloors.join(" → ")})`);
  } finally {
    await quorum.close();
  }
});

test.run();
