import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClickHouseCluster } from "../harness/clickhouse-cluster.ts";
import { waitFor } from "../harness/wait.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { capabilitiesFor, migrate, MIGRATIONS, openClickHouse, renderSchema, type OpenClickHouse } from "../../clickhouse/index.ts";
import { clusterStatements, ClusterDdlError, SHARDING_KEYS } from "../../clickhouse/cluster.ts";
import { EventColumns } from "../../clickhouse/columns.ts";
import { retention, rollupDaily, type JobDeps } from "../../jobs/shipped.ts";
import { run as runMigrate } from "../../cli/migrate.ts";
import { UsageError } from "../../cli/args.ts";
import { ConfigError, loadConfig } from "../../config/index.ts";
import { SHIPPED_SCHEMAS } from "../../subjects/schemas/index.ts";
import { TABLES, WINDOW_TABLES, JOB_TABLES, AUDIT_TABLE, MIGRATIONS_TABLE } from "../../clickhouse/schema.ts";

/**
 * Migrations in cluster mode (CLICKHOUSE_CLUSTER) against ZooKeeper and two clickhouse-server
 * 18.16 replicas of one shard; and, without it, the DDL of one server byte for byte as before.
 */

interface Ctx {
  cluster: ClickHouseCluster;
  nodes: OpenClickHouse[];
  dataDir: string;
}

const test = suite<Ctx>("ClickHouse cluster migrations (ZooKeeper + two 18.16 replicas)");
const quiet = { info() {}, warn() {} };
const GOLDEN = join(import.meta.dirname, "single-server-schema.json");
const statementHash = (statement: string) => createHash("sha256").update(statement).digest("hex").slice(0, 16);
const ALL_TABLES = [MIGRATIONS_TABLE, ...Object.values(TABLES), WINDOW_TABLES.late_events, ...Object.values(JOB_TABLES), AUDIT_TABLE];

test.before(async (ctx) => {
  ctx.cluster = await ClickHouseCluster.start();
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
  ctx.nodes = [];
  for (const replica of ctx.cluster.replicas) ctx.nodes.push(await openClickHouse({ url: replica.url, dataDir: ctx.dataDir, cluster: ctx.cluster.name, logger: quiet }));
});

test.after(async (ctx) => {
  for (const node of ctx.nodes ?? []) await node.close();
  await ctx.cluster?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

async function scalar(ch: OpenClickHouse, query: string): Promise<number> {
  const [row] = await rows<Record<string, unknown>>(ch, query);
  return Number(Object.values(row ?? { v: 0 })[0]);
}

async function rows<T>(ch: OpenClickHouse, query: string): Promise<T[]> {
  const rs = await ch.client.query({ query, format: "JSONEachRow" });
  return rs.json<T>();
}

test("without CLICKHOUSE_CLUSTER the DDL is byte-identical to the single-server DDL before cluster mode (18.16 and chDB's 26.7)", () => {
  // single-server-schema.json holds a hash of each statement the commit before cluster mode
  // rendered. Each must still be rendered, in the same order; a later migration adds statements
  // among them, which this allows.
  const recorded = JSON.parse(readFileSync(GOLDEN, "utf8")) as Record<string, string[]>;
  const cases: Array<[string, string[]]> = [
    ["18.16.1", renderSchema(capabilitiesFor("18.16.1"))],
    ["26.7.2.1 retentionDays 30", renderSchema(capabilitiesFor("26.7.2.1"), { retentionDays: 30 })],
  ];
  for (const [name, statements] of cases) {
    const hashes = statements.map(statementHash);
    let at = 0;
    for (const [i, want] of recorded[name]!.entries()) {
      const found = hashes.indexOf(want, at);
      assert.ok(found >= 0, `${name}: statement ${i + 1} of the single-server DDL changed or moved; now statement ${at + 1} reads:\n${statements[at]}`);
      at = found + 1;
    }
  }
});

test("the cluster form: every table replicated per {shard}/{replica} ON CLUSTER, a Distributed table under its public name, nothing else", () => {
  for (const version of ["18.16.1", "26.7.2.1"]) {
    const ddl = renderSchema(capabilitiesFor(version), { cluster: "prod", retentionDays: 30 });
    for (const statement of ddl) assert.match(statement, / ON CLUSTER prod\b/, `runs on every node: ${statement.split("\n")[0]}`);
    for (const table of ALL_TABLES) {
      const local = ddl.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${table}_local ON CLUSTER prod\n`));
      assert.ok(local, `${table}_local is created`);
      assert.match(local!, new RegExp(`ENGINE = Replicated\\w*MergeTree\\('/clickhouse/tables/\\{shard\\}/sluice/${table.slice(7)}_local', '\\{replica\\}'`));
      assert.ok(ddl.includes(`CREATE TABLE IF NOT EXISTS ${table} ON CLUSTER prod AS ${table}_local\nENGINE = Distributed(prod, sluice, ${table.slice(7)}_local, ${SHARDING_KEYS[table.slice(7)]})`), `${table} reads and inserts through Distributed`);
    }
    assert.match(ddl.find((s) => s.includes("window_aggregates_local ON CLUSTER"))!, /ReplicatedReplacingMergeTree\('[^']+', '\{replica\}', version\)/, "the engine's own arguments follow the replica's");
    assert.ok(ddl.some((s) => s.startsWith(`CREATE VIEW IF NOT EXISTS ${WINDOW_TABLES.windows} ON CLUSTER prod AS\n`)), "the windows view exists on every node, over the Distributed table");
  }
  // The typed columns (migration 100 on modern servers) go on the local table; the Distributed table is recreated once after them.
  const modern = renderSchema(capabilitiesFor("26.7.2.1"), { cluster: "prod" });
  const firstAdd = modern.findIndex((s) => s.startsWith("ALTER TABLE sluice.events_local ON CLUSTER prod ADD COLUMN"));
  assert.ok(firstAdd > 0);
  assert.is(modern.filter((s) => s === "DROP TABLE IF EXISTS sluice.events ON CLUSTER prod").length, 1);
});

test("a statement cluster mode cannot translate, or a table without a sharding key, is refused before anything runs", () => {
  assert.throws(() => clusterStatements(["CREATE MATERIALIZED VIEW IF NOT EXISTS sluice.mv TO sluice.x AS SELECT 1"], "prod"), (e: Error) => e instanceof ClusterDdlError && /refusing to run it on one node only/.test(e.message));
  assert.throws(() => clusterStatements(["CREATE TABLE IF NOT EXISTS sluice.new_table\n(\n    a String\n)\nENGINE = MergeTree()\nORDER BY a"], "prod"), (e: Error) => e instanceof ClusterDdlError && /new_table has no sharding key/.test(e.message));
  assert.throws(() => clusterStatements([], "bad-name; DROP"), (e: Error) => e instanceof ClusterDdlError);
});

test("migrating through one node creates the replicated and Distributed tables on both; the other node sees every migration recorded", async ({ cluster, nodes }) => {
  const [a, b] = nodes;
  const first = await migrate(a.client, a.caps);
  assert.is(first.applied.length, MIGRATIONS.length);
  for (const [i, node] of nodes.entries()) {
    const tables = new Map((await rows<{ name: string; engine: string }>(node, "SELECT name, engine FROM system.tables WHERE database = 'sluice'")).map((r) => [r.name, r.engine]));
    for (const table of ALL_TABLES) {
      const name = table.slice(7);
      assert.match(tables.get(`${name}_local`) ?? "missing", /^Replicated\w*MergeTree$/, `replica ${i + 1}: ${name}_local`);
      assert.is(tables.get(name), "Distributed", `replica ${i + 1}: ${name}`);
    }
    assert.is(tables.get("windows"), "View", `replica ${i + 1}: windows view`);
    const replicas = await rows<{ table: string; total_replicas: number; active_replicas: number }>(node, "SELECT table, total_replicas, active_replicas FROM system.replicas WHERE database = 'sluice' AND table = 'events_local'");
    assert.equal(replicas.map((r) => [Number(r.total_replicas), Number(r.active_replicas)]), [[2, 2]], `replica ${i + 1}: events_local has two active replicas`);
  }
  const second = await migrate(b.client, b.caps);
  assert.equal(second.applied, [], "the other node finds every migration recorded (schema_migrations is replicated too)");
  assert.ok(cluster.replicas.every((r) => r.running));
});

test("with one replica down, a process start's migrate of a current schema runs no ON CLUSTER statement, so it does not wait for that replica", async ({ cluster, nodes }) => {
  const down = cluster.replicas[1]!;
  await down.kill("SIGKILL");
  try {
    // An ON CLUSTER statement would wait distributed_ddl_task_timeout (180 s) for the dead node.
    const again = await withDeadline(() => migrate(nodes[0]!.client, nodes[0]!.caps), { what: "migrate with a replica down", timeoutMs: 90_000 });
    assert.equal(again.applied, []);
    assert.ok((await scalar(nodes[0]!, "SELECT count() FROM sluice.schema_migrations")) >= MIGRATIONS.length, "reads go on through the live replica");
  } finally {
    // Back once ZooKeeper has expired its old session (the live replica counts one active): a
    // replica that returns inside it takes no part in ON CLUSTER ALTERs until then (18.16 answers
    // "Cannot enqueue replicated DDL query for a replicated shard").
    const active = () => scalar(nodes[0]!, "SELECT min(active_replicas) FROM system.replicas WHERE database = 'sluice'");
    await waitFor(active, (n) => n === 1, 60_000, 500);
    await down.restart();
    assert.is(await waitFor(active, (n) => n === 2, 60_000, 500), 2, "every table has its two replicas again");
  }
});

test("typed columns are added on every node, the Distributed table recreated with them, and a row inserted on one node reads on the other", async ({ nodes }) => {
  const [a, b] = nodes;
  const columns = new EventColumns(a.client, a.caps);
  await columns.load();
  const added: string[] = [];
  for (const [source, versions] of Object.entries(SHIPPED_SCHEMAS)) for (const schema of versions) added.push(...(await columns.ensure(source, schema)));
  assert.ok(added.length > 0, "the shipped schemas have typed columns");
  for (const [i, node] of nodes.entries()) {
    for (const table of ["events", "events_local"]) {
      const names = new Set((await rows<{ name: string }>(node, `SELECT name FROM system.columns WHERE database = 'sluice' AND table = '${table}'`)).map((r) => r.name));
      for (const name of added) assert.ok(names.has(name), `replica ${i + 1}: sluice.${table} has ${name}`);
    }
  }
  const again = new EventColumns(b.client, b.caps);
  await again.load();
  for (const [source, versions] of Object.entries(SHIPPED_SCHEMAS)) for (const schema of versions) assert.equal(await again.ensure(source, schema), [], "the other node finds them");
  await a.client.insert({ table: TABLES.events, values: [{ event_id: "e-1", source: "iot", key: "s-1", schema_version: 1, event_time: "2020-01-01 00:00:00", ingest_time: "2020-01-01 00:00:00", payload: "{}", raw_subject: "raw.iot.s-1", raw_seq: 1, trace_id: "" }], format: "JSONEachRow" });
  // Replication is asynchronous: the other replica fetches the part within moments.
  const count = () => rows<{ n: string }>(b, "SELECT count() AS n FROM sluice.events WHERE event_id = 'e-1'").then((r) => Number(r[0]?.n));
  assert.is(await waitFor(count, (n) => n >= 1, 30_000), 1, "a row inserted through one node's Distributed table is read once from the other");
});

test("sluice migrate with CLICKHOUSE_CLUSTER, through the other node: nothing left to migrate; --views is refused, not run on one node", async ({ cluster, dataDir }) => {
  const env = { CLICKHOUSE_URL: cluster.replicas[1]!.url, CLICKHOUSE_CLUSTER: cluster.name, SLUICE_STATE_DIR: dataDir };
  const printed: string[] = [];
  const { log, error } = console;
  console.log = (...args: unknown[]) => void printed.push(args.join(" "));
  // Its notices of what 18.16 lacks go to stderr; not this test's subject.
  console.error = () => undefined;
  try {
    assert.is(await runMigrate([], env), 0);
  } finally {
    Object.assign(console, { log, error });
  }
  assert.match(printed.join("\n"), /is at schema version \d+: nothing to migrate/);
  try {
    await runMigrate(["--views"], env);
    assert.unreachable("--views ran on a cluster");
  } catch (err) {
    assert.instance(err, UsageError);
    assert.match((err as Error).message, /--views does not support CLICKHOUSE_CLUSTER=sluice_test/);
  }
});

test("a cluster node migrated without CLICKHOUSE_CLUSTER is refused (its new columns would reach the Distributed table of one node only)", async ({ cluster, dataDir }) => {
  const single = await openClickHouse({ url: cluster.replicas[1]!.url, dataDir, logger: quiet });
  try {
    await migrate(single.client, single.caps);
    assert.unreachable("migrated a cluster node as one server");
  } catch (err) {
    assert.match((err as Error).message, /is a cluster node \(sluice\.schema_migrations is Distributed\): set CLICKHOUSE_CLUSTER/);
  } finally {
    await single.close();
  }
});

test("configuration: CLICKHOUSE_CLUSTER needs CLICKHOUSE_URL and a cluster name; CLICKHOUSE_INSERT_QUORUM needs CLICKHOUSE_CLUSTER", () => {
  const url = "http://127.0.0.1:8123";
  assert.is(loadConfig({ CLICKHOUSE_URL: url, CLICKHOUSE_CLUSTER: "prod", CLICKHOUSE_INSERT_QUORUM: "2" }).clickhouseInsertQuorum, 2);
  assert.is(loadConfig({}).clickhouseCluster, undefined);
  assert.throws(() => loadConfig({ CLICKHOUSE_CLUSTER: "prod" }), (e: Error) => e instanceof ConfigError && /CLICKHOUSE_URL is not/.test(e.message));
  assert.throws(() => loadConfig({ CLICKHOUSE_URL: url, CLICKHOUSE_CLUSTER: "prod cluster" }), (e: Error) => e instanceof ConfigError && /<remote_servers>/.test(e.message));
  assert.throws(() => loadConfig({ CLICKHOUSE_URL: url, CLICKHOUSE_INSERT_QUORUM: "2" }), (e: Error) => e instanceof ConfigError && /CLICKHOUSE_CLUSTER is not/.test(e.message));
});

test("the daily rollup and the retention job drop partitions of the replicated local tables on every node (a Distributed table has none)", async ({ nodes }) => {
  const a = nodes[0];
  const day = Date.UTC(2020, 5, 1);
  const at = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");
  const events = Array.from({ length: 6 }, (_, i) => ({ event_id: `roll-${i}`, source: "iot", key: `k-${i % 3}`, schema_version: 1, event_time: at(day + i * 60_000), ingest_time: at(day), payload: "{}", raw_subject: "raw.iot.k", raw_seq: i + 1, trace_id: "" }));
  await a!.client.insert({ table: TABLES.events, values: events, format: "JSONEachRow", columns: ["event_id", "source", "key", "schema_version", "event_time", "ingest_time", "payload", "raw_subject", "raw_seq", "trace_id"] });
  const attempt = { job: "rollup-daily", scheduledAtMs: day + 86_400_000 + 30 * 60_000, trigger: "manual" as const, attempt: 1, signal: new AbortController().signal, log: console };
  const deps = { client: a!.client, caps: a!.caps, lake: () => Promise.reject(new Error("no lake in this test")), retentionDays: 30, lakeRetentionDays: undefined } as unknown as JobDeps;
  assert.is(await rollupDaily.run(deps, attempt), "3 keys on 2020-06-01");
  assert.is(await rollupDaily.run(deps, attempt), "3 keys on 2020-06-01", "a re-run replaces the day (its partition dropped on the cluster)");
  for (const [i, node] of nodes.entries()) {
    const keys = await waitFor(() => scalar(node, "SELECT count() FROM sluice.daily_rollups WHERE day = '2020-06-01'"), (n) => n === 3, 30_000);
    assert.is(keys, 3, `replica ${i + 1}: one row per key without FINAL`);
  }
  const swept = await retention.run(deps, { ...attempt, job: "retention", scheduledAtMs: Date.UTC(2021, 0, 1) });
  assert.match(String(swept), /sluice\.events 20200601/, "the old events partition is dropped");
  for (const [i, node] of nodes.entries()) {
    const left = await waitFor(() => scalar(node, "SELECT count() FROM sluice.events WHERE startsWith(event_id, 'roll-')"), (n) => n === 0, 30_000);
    assert.is(left, 0, `replica ${i + 1}: the partition is gone`);
  }
});

test.run();
