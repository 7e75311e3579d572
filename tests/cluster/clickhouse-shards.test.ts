import { suite } from "uvu";
import * as assert from "uvu/assert";
import { surfaceHookErrors } from "../harness/hooks.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import { ClickHouseCluster, rows } from "../harness/clickhouse-cluster.ts";
import { clusterEvent, eventCounts, publishWhile, sinkSettled, startEventsSink } from "../harness/cluster-sink.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { scalar } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { eventRow, insertRows, migrate, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import { EventColumns } from "../../clickhouse/columns.ts";
import { SHIPPED_SCHEMAS } from "../../subjects/schemas/index.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { ANALYST_DATABASE, analystViewStatements, CLICKHOUSE_ACCOUNTS, clickhouseUsersXml } from "../../auth/clickhouse-users.ts";

/**
 * Two shards of two replicas each (ZooKeeper + four clickhouse-server 18.16): what holds with more
 * than one shard and more than one replica. Rows of one identity hash to one shard, so FINAL
 * through Distributed collapses repeats across the cluster; a synchronous Distributed insert has
 * the other shard's rows stored when it returns; a replica of one shard SIGKILLed while the events
 * sink inserts loses nothing acked, and reads through Distributed go on from its shard's other
 * replica.
 */

interface Ctx {
  cluster: ClickHouseCluster;
  /** One cluster-mode connection per server, shard by shard: [shard 1 replica 1, shard 1 replica 2, shard 2 replica 1, shard 2 replica 2]. */
  nodes: OpenClickHouse[];
  nats: NatsServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  dataDir: string;
}

const SUITE = "ClickHouse cluster of two shards of two replicas (ZooKeeper + four 18.16 servers)";
const test = surfaceHookErrors(suite<Ctx>(SUITE), SUITE);
const quiet = { info() {}, warn() {} };
const SHARDS = 2;
const PER_SHARD = 2;
const KEYS = 20;
/** Shorter than the replicas' ZooKeeper session (15 s), as in clickhouse-sink.test.ts, and long enough for several reads from each reader. */
const OUTAGE_MS = 5_000;

test.before(async (ctx) => {
  ctx.cluster = await ClickHouseCluster.start({ shards: SHARDS, replicasPerShard: PER_SHARD });
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
  ctx.nodes = [];
  for (const server of ctx.cluster.replicas) ctx.nodes.push(await openClickHouse({ url: server.url, dataDir: ctx.dataDir, cluster: ctx.cluster.name, logger: quiet }));
  await migrate(ctx.nodes[0]!.client, ctx.nodes[0]!.caps);
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.jsm = await jetstreamManager(ctx.nc);
  await ensureStreams(ctx.jsm);
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.nats?.stop();
  for (const node of ctx.nodes ?? []) await node.close();
  await ctx.cluster?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

/** The nodes of shard `s` (0-based). */
const shard = (nodes: readonly OpenClickHouse[], s: number) => nodes.slice(s * PER_SHARD, (s + 1) * PER_SHARD);

/** Per shard, the local rows matching `where` on each of its replicas. */
async function localCounts(nodes: readonly OpenClickHouse[], where: string): Promise<number[][]> {
  const out: number[][] = [];
  for (let s = 0; s < SHARDS; s++) out.push(await Promise.all(shard(nodes, s).map((n) => scalar(n.client, `SELECT count() FROM sluice.events_local WHERE ${where}`))));
  return out;
}

/** Waits until both replicas of every shard hold the same rows matching `where` (replication caught up); returns the count per shard. */
async function replicated(nodes: readonly OpenClickHouse[], where: string, timeoutMs = 60_000): Promise<number[]> {
  const counts = await waitFor(() => localCounts(nodes, where), (c) => c.every((r) => r.every((n) => n === r[0])), timeoutMs, 250);
  for (const [s, r] of counts.entries()) assert.ok(r.every((n) => n === r[0]), `shard ${s + 1}: its replicas agree (${r.join(" vs ")})`);
  return counts.map((r) => r[0]!);
}

test("an insert through one node returns with the other shard's rows stored, and each key's rows on one shard only", async ({ nodes }) => {
  const events = Array.from({ length: 200 }, (_, i) => clusterEvent("shard", i, KEYS));
  await insertRows(nodes[0]!.client, "events", events.map((e) => eventRow(e, "", nodes[0]!.caps)));
  // Read at once, no wait: insert_distributed_sync made the insert wait for one replica of the
  // remote shard (the other fetches it later), so per shard the fuller replica has all its rows.
  const now = (await localCounts(nodes, "startsWith(event_id, 'shard-')")).map((r) => Math.max(...r));
  assert.ok(now.every((n) => n > 0), `both shards hold rows (${now.join(" + ")})`);
  assert.is(now[0]! + now[1]!, 200, "every row on exactly one shard");
  const perShard = await replicated(nodes, "startsWith(event_id, 'shard-')");
  assert.equal(perShard, now, "the other replica of each shard fetched the same rows");
  const keysOf = async (node: OpenClickHouse) => (await rows<{ key: string }>(node.client, "SELECT DISTINCT key FROM sluice.events_local WHERE startsWith(event_id, 'shard-')")).map((r) => r.key);
  const [keysA, keysB] = [await keysOf(nodes[0]!), await keysOf(nodes[PER_SHARD]!)];
  assert.is(keysA.length + keysB.length, KEYS, "no key on both shards");
  assert.equal(keysA.filter((k) => keysB.includes(k)), []);
});

test("the same events again in other batches (not a repeated block): FINAL through Distributed collapses them across both shards, read from every node", async ({ nodes }) => {
  const last = nodes.at(-1)!;
  const again = Array.from({ length: 200 }, (_, i) => clusterEvent("shard", 199 - i, KEYS));
  // Through another shard's node, in two batches of another order: block deduplication cannot catch these.
  await insertRows(last.client, "events", again.slice(0, 120).map((e) => eventRow(e, "", last.caps)));
  await insertRows(last.client, "events", again.slice(120).map((e) => eventRow(e, "", last.caps)));
  const perShard = await replicated(nodes, "startsWith(event_id, 'shard-')");
  assert.is(perShard[0]! + perShard[1]!, 400, "both copies stored, each on its key's shard");
  for (const [i, node] of nodes.entries()) {
    assert.is(await scalar(node.client, "SELECT count() FROM sluice.events WHERE startsWith(event_id, 'shard-')"), 400, `node ${i + 1}: both copies without FINAL`);
    assert.is(await scalar(node.client, "SELECT count() FROM sluice.events FINAL WHERE startsWith(event_id, 'shard-')"), 200, `node ${i + 1}: one row per event with FINAL`);
  }
});

test("typed columns reach the local tables of every replica of both shards and the recreated Distributed tables", async ({ nodes }) => {
  const columns = new EventColumns(nodes[0]!.client, nodes[0]!.caps);
  await columns.load();
  const added = await columns.ensure("iot", SHIPPED_SCHEMAS.iot![0]);
  assert.ok(added.length > 0);
  for (const [i, node] of nodes.entries()) {
    for (const table of ["events", "events_local"]) {
      const names = new Set((await rows<{ name: string }>(node.client, `SELECT name FROM system.columns WHERE database = 'sluice' AND table = '${table}'`)).map((r) => r.name));
      for (const name of added) assert.ok(names.has(name), `node ${i + 1}: sluice.${table} has ${name}`);
    }
  }
});

test("SIGKILL of one replica of the other shard while the events sink inserts: nothing acked lost, each event once with and without FINAL through Distributed, reads go on", async ({ cluster, nodes, nc, jsm }) => {
  const prefix = "kill22";
  const n = 600;
  const victim = PER_SHARD; // shard 2, replica 1; the sink writes through shard 1's first node
  const dead = cluster.replicas[victim]!;
  const readers = [nodes[0]!, nodes[victim + 1]!];
  const readsWhileDown: number[][] = [[], []];
  const stop = startEventsSink(nc, nodes[0]!);
  let acked: Set<string>;
  try {
    acked = await publishWhile(nc, prefix, n, async () => {
      await dead.kill("SIGKILL");
      const downUntil = Date.now() + OUTAGE_MS;
      // Reads through Distributed, from a node of each shard: shard 2 answers from its live replica.
      while (Date.now() < downUntil) {
        for (const [i, reader] of readers.entries()) readsWhileDown[i]!.push(await scalar(reader.client, `SELECT count() FROM sluice.events WHERE startsWith(event_id, '${prefix}-')`));
        await sleep(500);
      }
      await dead.restart();
    }, KEYS);
    assert.ok(acked.size > n * 0.9, `JetStream acknowledged ${acked.size} of ${n} publishes`);
    for (const [i, reads] of readsWhileDown.entries()) {
      assert.ok(reads.length >= 3, `reader ${i + 1} answered during the outage (${reads.length} reads)`);
      assert.ok(reads.at(-1)! > reads[0]!, `reader ${i + 1}: inserts went on during the outage and were read (${reads.join(", ")})`);
    }
    assert.ok(await waitFor(() => sinkSettled(jsm), Boolean, 120_000, 250), `the sink acked every message after the replica returned:\n${cluster.logs()}`);
  } finally {
    await stop();
  }
  const where = `startsWith(event_id, '${prefix}-')`;
  const perShard = await replicated(nodes, where, 90_000);
  assert.ok(perShard.every((c) => c > 0), `events on both shards (${perShard.join(" + ")})`);
  assert.is(perShard[0]! + perShard[1]!, acked.size, "every acked event on one shard, once, on both its replicas");
  const ids = `'${[...acked].join("','")}'`;
  for (const [i, node] of nodes.entries()) {
    const got = await waitFor(() => eventCounts(node, `${prefix}-`), (c) => c.rows >= acked.size, 30_000, 500);
    assert.equal(got, { rows: acked.size, final: acked.size, distinct: acked.size }, `node ${i + 1}: every acked event once, without and with FINAL`);
    assert.is(await scalar(node.client, `SELECT count() FROM sluice.events WHERE event_id IN (${ids})`), acked.size, `node ${i + 1}: the rows are the acked events`);
  }
});

test("the reader account reads the analyst views (created ON CLUSTER) across both shards from a node of each, and may not write", async ({ cluster, nodes }) => {
  const passwords = { migrator: "m-secret", writer: "w-secret", analyst: "a-secret" };
  cluster.installUsers("sluice.xml", clickhouseUsersXml({ serverVersion: "18.16.1", passwords, networks: ["127.0.0.1"], cluster: cluster.name }));
  for (const statement of analystViewStatements("18.16.1", { cluster: cluster.name })) await nodes[0]!.client.command({ query: statement });
  const total = await scalar(nodes[0]!.client, "SELECT count() FROM sluice.events");
  assert.ok(total > 0);
  for (const i of [0, nodes.length - 1]) {
    const reader = createClient({ url: cluster.replicas[i]!.url, username: CLICKHOUSE_ACCOUNTS.analyst.user, password: passwords.analyst, log: { level: ClickHouseLogLevel.OFF } });
    try {
      // users.d is read again within seconds; until then the account is unknown.
      const seen = await waitFor(() => scalar(reader, `SELECT count() FROM ${ANALYST_DATABASE}.events`), (n) => n === total, 60_000, 500);
      assert.is(seen, total, `node ${i + 1}: the reader sees every row of both shards`);
      const perShard = await rows<{ key: string }>(reader, `SELECT DISTINCT key FROM ${ANALYST_DATABASE}.events`);
      assert.is(perShard.length, KEYS, `node ${i + 1}: keys of both shards`);
      const err = await reader.command({ query: "INSERT INTO sluice.events (event_id, source, key) VALUES ('r1', 'iot', 'k')" }).then(() => undefined, (e: Error) => e);
      assert.match(err?.message ?? "inserted", /readonly mode/, `node ${i + 1}: the reader may not insert`);
    } finally {
      await reader.close();
    }
  }
});

test.run();
