import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClickHouseCluster } from "../harness/clickhouse-cluster.ts";
import { eventRow, insertRows, migrate, openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import { EventColumns } from "../../clickhouse/columns.ts";
import { SHIPPED_SCHEMAS } from "../../subjects/schemas/index.ts";
import type { Envelope } from "../../subjects/envelope.ts";

/**
 * Two shards of one replica each (ZooKeeper + two clickhouse-server 18.16): what holds with more
 * than one shard. Rows of one identity hash to one shard, so FINAL through Distributed collapses
 * repeats across the cluster; a synchronous Distributed insert has the other shard's rows stored
 * when it returns.
 */

interface Ctx {
  cluster: ClickHouseCluster;
  nodes: OpenClickHouse[];
  dataDir: string;
}

const test = suite<Ctx>("ClickHouse cluster of two shards (ZooKeeper + two 18.16 servers)");
const quiet = { info() {}, warn() {} };
const T0 = Date.UTC(2020, 0, 1, 12);
const KEYS = 20;

test.before(async (ctx) => {
  ctx.cluster = await ClickHouseCluster.start({ shards: 2, replicasPerShard: 1 });
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
  ctx.nodes = [];
  for (const server of ctx.cluster.replicas) ctx.nodes.push(await openClickHouse({ url: server.url, dataDir: ctx.dataDir, cluster: ctx.cluster.name, logger: quiet }));
  await migrate(ctx.nodes[0]!.client, ctx.nodes[0]!.caps);
});

test.after(async (ctx) => {
  for (const node of ctx.nodes ?? []) await node.close();
  await ctx.cluster?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

async function rows<T>(ch: OpenClickHouse, query: string): Promise<T[]> {
  const rs = await ch.client.query({ query, format: "JSONEachRow" });
  return rs.json<T>();
}

async function scalar(ch: OpenClickHouse, query: string): Promise<number> {
  const [row] = await rows<Record<string, unknown>>(ch, query);
  return Number(Object.values(row ?? { v: 0 })[0]);
}

function envelope(i: number): Envelope {
  const key = `k-${i % KEYS}`;
  return { event_id: `shard-${i}`, source: "iot", key, schema_version: 1, event_time: T0 + i * 1000, ingest_time: T0, payload: { i }, raw_subject: `raw.iot.${key}`, raw_seq: i + 1 };
}

test("an insert through one node returns with the other shard's rows stored, and each key's rows on one shard only", async ({ nodes }) => {
  const [a, b] = nodes;
  const events = Array.from({ length: 200 }, (_, i) => envelope(i));
  await insertRows(a!.client, "events", events.map((e) => eventRow(e, "", a!.caps)));
  // Read at once, no wait: insert_distributed_sync made the insert wait for the remote shard.
  const local = [await scalar(a!, "SELECT count() FROM sluice.events_local"), await scalar(b!, "SELECT count() FROM sluice.events_local")];
  assert.ok(local[0]! > 0 && local[1]! > 0, `both shards hold rows (${local.join(" + ")})`);
  assert.is(local[0]! + local[1]!, 200, "every row on exactly one shard");
  const keysOf = async (node: OpenClickHouse) => (await rows<{ key: string }>(node, "SELECT DISTINCT key FROM sluice.events_local")).map((r) => r.key);
  const [keysA, keysB] = [await keysOf(a!), await keysOf(b!)];
  assert.is(keysA.length + keysB.length, KEYS, "no key on both shards");
  assert.equal(keysA.filter((k) => keysB.includes(k)), []);
});

test("the same events again in other batches (not a repeated block): FINAL through Distributed collapses them across both shards", async ({ nodes }) => {
  const b = nodes[1];
  const again = Array.from({ length: 200 }, (_, i) => envelope(199 - i));
  // Through the other node, in two batches of another order: block deduplication cannot catch these.
  await insertRows(b!.client, "events", again.slice(0, 120).map((e) => eventRow(e, "", b!.caps)));
  await insertRows(b!.client, "events", again.slice(120).map((e) => eventRow(e, "", b!.caps)));
  for (const [i, node] of nodes.entries()) {
    assert.is(await scalar(node, "SELECT count() FROM sluice.events WHERE startsWith(event_id, 'shard-')"), 400, `node ${i + 1}: both copies without FINAL`);
    assert.is(await scalar(node, "SELECT count() FROM sluice.events FINAL WHERE startsWith(event_id, 'shard-')"), 200, `node ${i + 1}: one row per event with FINAL`);
  }
});

test("typed columns reach the local tables of both shards and the recreated Distributed tables", async ({ nodes }) => {
  const columns = new EventColumns(nodes[0]!.client, nodes[0]!.caps);
  await columns.load();
  const added = await columns.ensure("iot", SHIPPED_SCHEMAS.iot![0]);
  assert.ok(added.length > 0);
  for (const [i, node] of nodes.entries()) {
    for (const table of ["events", "events_local"]) {
      const names = new Set((await rows<{ name: string }>(node, `SELECT name FROM system.columns WHERE database = 'sluice' AND table = '${table}'`)).map((r) => r.name));
      for (const name of added) assert.ok(names.has(name), `node ${i + 1}: sluice.${table} has ${name}`);
    }
  }
});

test.run();
