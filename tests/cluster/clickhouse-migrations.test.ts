import { suite } from "uvu";
import * as assert from "uvu/assert";
import { surfaceHookErrors } from "../harness/hooks.ts";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from "@clickhouse/client";
import { ClickHouseCluster, rows } from "../harness/clickhouse-cluster.ts";
import { scalar } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { capabilitiesFor, eventRow, insertRows, migrate, MIGRATIONS, openClickHouse, renderSchema, type OpenClickHouse } from "../../clickhouse/index.ts";
import { ANALYST_DATABASE, ANALYST_VIEWS, analystViewStatements, CLICKHOUSE_ACCOUNTS, clickhouseUsersSql } from "../../auth/clickhouse-users.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { clusterStatements, ClusterDdlError, SHARDING_KEYS } from "../../clickhouse/cluster.ts";
import { EventColumns } from "../../clickhouse/columns.ts";
import { retention, rollupDaily, type JobDeps } from "../../jobs/shipped.ts";
import { run as runMigrate } from "../../cli/migrate.ts";
import { ConfigError, loadConfig } from "../../config/index.ts";
import { SHIPPED_SCHEMAS } from "../../subjects/schemas/index.ts";
import { TABLES, WINDOW_TABLES, JOB_TABLES, AUDIT_TABLE, MIGRATIONS_TABLE } from "../../clickhouse/schema.ts";

/**
 * Migrations in cluster mode (CLICKHOUSE_CLUSTER) against ZooKeeper and two clickhouse-server
 * 18.16 replicas of one shard; and, without it, the DDL of one server byte for byte as before.
 * Then, on the migrated cluster (sharing its migration, the longest step): the analyst views and
 * the accounts — `sluice deploy clickhouse-users --cluster` writes the users.d file every node
 * installs, `sluice migrate --views` creates the views ON CLUSTER, and the reader reads them on
 * both nodes and is refused what it must be refused. The SQL RBAC form (ON CLUSTER) has no
 * server here: chDB's own parser parses and formats it back.
 */

interface Ctx {
  cluster: ClickHouseCluster;
  nodes: OpenClickHouse[];
  dataDir: string;
  /** The accounts' passwords by user, from `sluice deploy clickhouse-users` (the accounts' tests at the end). */
  passwords: Record<string, string>;
  clients: ClickHouseClient[];
  opened: OpenClickHouse[];
}

const SUITE = "ClickHouse cluster migrations, analyst views and accounts (ZooKeeper + two 18.16 replicas)";
const test = surfaceHookErrors(suite<Ctx>(SUITE), SUITE);
const quiet = { info() {}, warn() {} };
const GOLDEN = join(import.meta.dirname, "single-server-schema.json");
const statementHash = (statement: string) => createHash("sha256").update(statement).digest("hex").slice(0, 16);
const ALL_TABLES = [MIGRATIONS_TABLE, ...Object.values(TABLES), WINDOW_TABLES.late_events, ...Object.values(JOB_TABLES), AUDIT_TABLE];

test.before(async (ctx) => {
  ctx.cluster = await ClickHouseCluster.start();
  ctx.dataDir = mkdtempSync(join(tmpdir(), "sluice-unused-"));
  ctx.nodes = [];
  ctx.clients = [];
  ctx.opened = [];
  for (const replica of ctx.cluster.replicas) ctx.nodes.push(await openClickHouse({ url: replica.url, dataDir: ctx.dataDir, cluster: ctx.cluster.name, logger: quiet }));
});

test.after(async (ctx) => {
  for (const c of ctx.clients ?? []) await c.close();
  for (const o of ctx.opened ?? []) await o.close();
  for (const node of ctx.nodes ?? []) await node.close();
  await ctx.cluster?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});

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
    const tables = new Map((await rows<{ name: string; engine: string }>(node.client, "SELECT name, engine FROM system.tables WHERE database = 'sluice'")).map((r) => [r.name, r.engine]));
    for (const table of ALL_TABLES) {
      const name = table.slice(7);
      assert.match(tables.get(`${name}_local`) ?? "missing", /^Replicated\w*MergeTree$/, `replica ${i + 1}: ${name}_local`);
      assert.is(tables.get(name), "Distributed", `replica ${i + 1}: ${name}`);
    }
    assert.is(tables.get("windows"), "View", `replica ${i + 1}: windows view`);
    const replicas = await rows<{ table: string; total_replicas: number; active_replicas: number }>(node.client, "SELECT table, total_replicas, active_replicas FROM system.replicas WHERE database = 'sluice' AND table = 'events_local'");
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
    assert.ok((await scalar(nodes[0]!.client, "SELECT count() FROM sluice.schema_migrations")) >= MIGRATIONS.length, "reads go on through the live replica");
  } finally {
    // Back once ZooKeeper has expired its old session (the live replica counts one active): a
    // replica that returns inside it takes no part in ON CLUSTER ALTERs until then (18.16 answers
    // "Cannot enqueue replicated DDL query for a replicated shard").
    const active = () => scalar(nodes[0]!.client, "SELECT min(active_replicas) FROM system.replicas WHERE database = 'sluice'");
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
      const names = new Set((await rows<{ name: string }>(node.client, `SELECT name FROM system.columns WHERE database = 'sluice' AND table = '${table}'`)).map((r) => r.name));
      for (const name of added) assert.ok(names.has(name), `replica ${i + 1}: sluice.${table} has ${name}`);
    }
  }
  const again = new EventColumns(b.client, b.caps);
  await again.load();
  for (const [source, versions] of Object.entries(SHIPPED_SCHEMAS)) for (const schema of versions) assert.equal(await again.ensure(source, schema), [], "the other node finds them");
  await a.client.insert({ table: TABLES.events, values: [{ event_id: "e-1", source: "iot", key: "s-1", schema_version: 1, event_time: "2020-01-01 00:00:00", ingest_time: "2020-01-01 00:00:00", payload: "{}", raw_subject: "raw.iot.s-1", raw_seq: 1, trace_id: "" }], format: "JSONEachRow" });
  // Replication is asynchronous: the other replica fetches the part within moments.
  const count = () => rows<{ n: string }>(b.client, "SELECT count() AS n FROM sluice.events WHERE event_id = 'e-1'").then((r) => Number(r[0]?.n));
  assert.is(await waitFor(count, (n) => n >= 1, 30_000), 1, "a row inserted through one node's Distributed table is read once from the other");
});

test("sluice migrate with CLICKHOUSE_CLUSTER, through the other node: nothing left to migrate", async ({ cluster, dataDir }) => {
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
    const keys = await waitFor(() => scalar(node.client, "SELECT count() FROM sluice.daily_rollups WHERE day = '2020-06-01'"), (n) => n === 3, 30_000);
    assert.is(keys, 3, `replica ${i + 1}: one row per key without FINAL`);
  }
  const swept = await retention.run(deps, { ...attempt, job: "retention", scheduledAtMs: Date.UTC(2021, 0, 1) });
  assert.match(String(swept), /sluice\.events 20200601/, "the old events partition is dropped");
  for (const [i, node] of nodes.entries()) {
    const left = await waitFor(() => scalar(node.client, "SELECT count() FROM sluice.events WHERE startsWith(event_id, 'roll-')"), (n) => n === 0, 30_000);
    assert.is(left, 0, `replica ${i + 1}: the partition is gone`);
  }
});

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const { migrator, writer, analyst } = CLICKHOUSE_ACCOUNTS;
const T0 = Date.UTC(2020, 0, 1, 12);
/** Events the accounts' tests insert. */
const N = 40;

/** `sluice deploy …` as an operator runs it; stdout, stderr and the passwords it prints, by user. */
function deploy(args: string[]): { stdout: string; stderr: string; passwords: Record<string, string> } {
  const r = spawnSync(process.execPath, [BIN, "deploy", ...args], { encoding: "utf8", timeout: 60_000, env: { ...process.env, SLUICE_LOG_LEVEL: "warn" } });
  assert.is(r.status, 0, r.stderr);
  const passwords = Object.fromEntries([...r.stderr.matchAll(/^\s+(migrator|writer|analyst)\s+(\S+)\s+(\S+)$/gm)].map((m) => [m[2]!, m[3]!]));
  return { stdout: r.stdout, stderr: r.stderr, passwords };
}

/** A client of replica `node` signed in as `user`. */
function as(ctx: Ctx, node: number, user: string): ClickHouseClient {
  const client = createClient({ url: ctx.cluster.replicas[node]!.url, username: user, password: ctx.passwords[user], log: { level: ClickHouseLogLevel.OFF }, request_timeout: 200_000 });
  ctx.clients.push(client);
  return client;
}

async function refused(run: Promise<unknown>, message: RegExp, what: string): Promise<void> {
  const err = await run.then(() => undefined, (e: Error) => e);
  assert.ok(err, `expected a refusal: ${what}`);
  assert.match(err!.message, message, what);
}

function envelope(i: number): Envelope {
  const key = `k-${i % 5}`;
  return { event_id: `users-${i}`, source: "iot", key, schema_version: 1, event_time: T0 + i * 1000, ingest_time: T0, payload: { i }, raw_subject: `raw.iot.${key}`, raw_seq: i + 1 };
}

test("deploy clickhouse-users --cluster (18.16): one users.d file, and stderr says it goes on every node; every node takes it", async (ctx) => {
  const out = deploy(["clickhouse-users", "--server-version", "18.16.1", "--cluster", ctx.cluster.name]);
  ctx.passwords = out.passwords;
  assert.equal(Object.keys(ctx.passwords).sort(), [migrator.user, analyst.user, writer.user].sort());
  assert.match(out.stderr, new RegExp(`put this same file in users\\.d/ of every node of ${ctx.cluster.name}`));
  assert.match(out.stdout, new RegExp(`Cluster ${ctx.cluster.name}: .*install this same\\s+file in users\\.d/ of every node`, "s"));
  for (const password of Object.values(ctx.passwords)) assert.not.ok(out.stdout.includes(password), "only the hash is in the file");
  ctx.cluster.installUsers("sluice.xml", out.stdout);
  for (const node of [0, 1]) {
    for (const user of Object.keys(ctx.passwords)) {
      const client = as(ctx, node, user);
      const ok = await waitFor(() => scalar(client, "SELECT 1").then(() => true, () => false), Boolean, 60_000, 500);
      assert.ok(ok, `replica ${node + 1} signs ${user} in`);
    }
  }
});

test("sluice migrate --views as the migrations account, with CLICKHOUSE_CLUSTER: the analyst views exist on both nodes", async (ctx) => {
  const env = {
    CLICKHOUSE_URL: ctx.cluster.replicas[0]!.url,
    CLICKHOUSE_CLUSTER: ctx.cluster.name,
    CLICKHOUSE_MIGRATIONS_USER: migrator.user,
    CLICKHOUSE_MIGRATIONS_PASSWORD: ctx.passwords[migrator.user]!,
    SLUICE_STATE_DIR: ctx.dataDir,
  };
  const printed: string[] = [];
  const { log, error } = console;
  console.log = (...args: unknown[]) => void printed.push(args.join(" "));
  // Its notices of what 18.16 lacks and of NATS not being there go to stderr; not this test's subject.
  console.error = () => undefined;
  try {
    assert.is(await runMigrate(["--views"], env), 0);
  } finally {
    Object.assign(console, { log, error });
  }
  assert.match(printed.join("\n"), new RegExp(`analyst views created \\(or already there\\) on every node of ${ctx.cluster.name}`));
  for (const node of [0, 1]) {
    const views = await rows<{ name: string; engine: string }>(as(ctx, node, migrator.user), `SELECT name, engine FROM system.tables WHERE database = '${ANALYST_DATABASE}' ORDER BY name`);
    assert.equal(views, Object.keys(ANALYST_VIEWS).sort().map((name) => ({ name, engine: "View" })), `replica ${node + 1}: every analyst view`);
  }
});

test("rows the sink inserts through one node: the reader reads them through the analyst views on both nodes", async (ctx) => {
  const sink = await openClickHouse({ url: ctx.cluster.replicas[0]!.url, user: writer.user, password: ctx.passwords[writer.user], dataDir: ctx.dataDir, cluster: ctx.cluster.name, logger: quiet });
  ctx.opened.push(sink);
  await insertRows(sink.client, "events", Array.from({ length: N }, (_, i) => eventRow(envelope(i), "", sink.caps)));
  for (const node of [0, 1]) {
    const reader = as(ctx, node, analyst.user);
    const seen = await waitFor(() => scalar(reader, `SELECT count() FROM ${ANALYST_DATABASE}.events WHERE startsWith(event_id, 'users-')`), (n) => n >= N, 30_000);
    assert.is(seen, N, `replica ${node + 1}: the reader sees each inserted event once`);
    const ids = await rows<{ event_id: string }>(reader, `SELECT event_id FROM ${ANALYST_DATABASE}.events WHERE startsWith(event_id, 'users-') ORDER BY event_id`);
    assert.equal(ids.map((r) => r.event_id), Array.from({ length: N }, (_, i) => `users-${i}`).sort(), `replica ${node + 1}: the rows are the inserted events`);
    assert.is(await scalar(reader, `SELECT count() FROM ${ANALYST_DATABASE}.window_aggregates`), 0, `replica ${node + 1}: another view reads too`);
  }
});

test("the reader is refused, on both nodes, writes, DDL (ON CLUSTER too), other databases and lifting readonly; the sink is refused DDL ON CLUSTER", async (ctx) => {
  for (const node of [0, 1]) {
    const reader = as(ctx, node, analyst.user);
    const on = `replica ${node + 1}`;
    await refused(reader.command({ query: "INSERT INTO sluice.events (event_id, source, key) VALUES ('r1', 'iot', 'k')" }), /readonly mode/, `${on}: INSERT`);
    await refused(reader.command({ query: `DROP TABLE ${ANALYST_DATABASE}.events` }), /readonly mode/, `${on}: DROP`);
    await refused(reader.command({ query: `DROP TABLE ${ANALYST_DATABASE}.events ON CLUSTER ${ctx.cluster.name}` }), /readonly mode/, `${on}: DROP ON CLUSTER`);
    await refused(reader.command({ query: `CREATE TABLE ${ANALYST_DATABASE}.extra ON CLUSTER ${ctx.cluster.name} (a UInt8) ENGINE = Memory` }), /readonly mode/, `${on}: CREATE ON CLUSTER`);
    await refused(reader.query({ query: "SELECT 1 FROM default.nothing" }), /Access denied to database default/, `${on}: another database`);
    await refused(reader.command({ query: "SET readonly = 0" }), /readonly/, `${on}: SET readonly = 0`);
    const sink = as(ctx, node, writer.user);
    await refused(sink.command({ query: `DROP TABLE sluice.events ON CLUSTER ${ctx.cluster.name}` }), /DDL queries are prohibited/, `${on}: the sink's DROP ON CLUSTER`);
  }
  const migrations = as(ctx, 1, migrator.user);
  assert.is(await scalar(migrations, `SELECT count() FROM system.tables WHERE database = '${ANALYST_DATABASE}'`), Object.keys(ANALYST_VIEWS).length, "no refused statement changed the views");
  assert.is(await scalar(migrations, "SELECT count() FROM sluice.events WHERE startsWith(event_id, 'users-') OR event_id = 'r1'"), N, "nor the rows");
});

test("the SQL RBAC form for a cluster: every statement ON CLUSTER, the default role by ALTER USER, each parsed and formatted back by chDB's parser with its cluster", async (ctx) => {
  const out = deploy(["clickhouse-users", "--server-version", "24.8", "--cluster", "prod"]);
  const statements = out.stdout.split(";\n").filter((s) => s.trim());
  // The passwords are new each run: compared with their hashes masked.
  const masked = (list: string[]) => list.map((s) => s.replace(/'[0-9a-f]{64}'/, "'<sha256>'"));
  assert.equal(masked(statements), masked(clickhouseUsersSql({ serverVersion: "24.8", passwords: { migrator: "", writer: "", analyst: "" }, networks: ["127.0.0.1", "::1"], cluster: "prod" })));
  assert.match(out.stderr, /once, on any node of prod \(ON CLUSTER reaches every node\)/);
  assert.not.match(out.stdout, /SET DEFAULT ROLE/, "SET DEFAULT ROLE has no ON CLUSTER form");
  const views = deploy(["clickhouse-users", "--server-version", "24.8", "--cluster", "prod", "--views"]).stdout.split(";\n").filter((s) => s.trim());
  assert.equal(views, analystViewStatements("24.8", { cluster: "prod" }));
  const embedded = await openClickHouse({ dataDir: join(ctx.dataDir, "chdb"), logger: quiet });
  ctx.opened.push(embedded);
  for (const statement of [...statements, ...views]) {
    assert.match(statement, /\bON CLUSTER prod\b/, `on every node: ${statement.slice(0, 60)}`);
    const [formatted] = await rows<{ f: string }>(embedded.client, `SELECT formatQuery('${statement.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}') AS f`);
    assert.match(formatted!.f, /\bON CLUSTER prod\b/, `parsed with its cluster: ${statement.slice(0, 60)}`);
  }
  assert.throws(() => analystViewStatements("24.8", { cluster: "bad name" }), /cluster name/);
});

test.run();
