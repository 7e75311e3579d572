import { DATABASE } from "./schema.ts";

/**
 * ClickHouse cluster mode (`CLICKHOUSE_CLUSTER`): how a single-server statement of the migrations
 * becomes the statements of a replicated, sharded cluster, and which connections are a cluster's
 * nodes. No I/O: statements are strings, and a connection is only remembered (WeakMap).
 *
 * Each table `sluice.<name>` becomes
 * - `sluice.<name>_local`: the same columns, `Replicated<Engine>` with its ZooKeeper path keyed by
 *   the `{shard}` macro and its replica by `{replica}`, created `ON CLUSTER`;
 * - `sluice.<name>`: a `Distributed` table over the local tables, under the name users query and
 *   sinks insert into. It shards by a hash of columns of the table's sorting key, so two rows with
 *   the same sorting key always land on the same shard, where ReplacingMergeTree (and `FINAL`)
 *   collapses them: deduplication holds with any number of shards, not only with one.
 *
 * Views are created `ON CLUSTER` and read the Distributed tables. Any statement of another shape
 * is refused with {@link ClusterDdlError} rather than run on one node only.
 */

/** A cluster name as `<remote_servers>` declares it; it is inlined in DDL, so only identifier characters. */
export const CLUSTER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Suffix of the replicated table under each Distributed one. */
export const LOCAL_SUFFIX = "_local";

/**
 * Sharding key per table (short name), from leading columns of its ORDER BY: rows that
 * ReplacingMergeTree would collapse share these values, so they hash to one shard. A table
 * missing here is refused in cluster mode, so a new table must choose its key.
 */
export const SHARDING_KEYS: Readonly<Record<string, string>> = {
  schema_migrations: "version",
  events: "cityHash64(source, key)",
  dead_letters: "cityHash64(actor, source, dlq_id)",
  window_aggregates: "cityHash64(source, kind, metric, key)",
  anomalies: "cityHash64(source, key)",
  forecasts: "cityHash64(series)",
  dq_results: "cityHash64(source, expectation)",
  late_events: "cityHash64(source, late_id)",
  job_runs: "cityHash64(job)",
  daily_rollups: "toYYYYMMDD(day)",
  audit: "cityHash64(audit_id)",
};

/**
 * Settings of every connection that writes in cluster mode. `insert_distributed_sync`: an insert
 * into a Distributed table returns only once every shard it touched has stored its rows, so a
 * sink acks nothing that sits in a node's send queue (the default writes remote shards later).
 * `insert_quorum` (CLICKHOUSE_INSERT_QUORUM): and only once that many replicas of the shard hold
 * them, so losing a replica's disk loses no acked row; while fewer replicas are alive, inserts
 * fail (TOO_FEW_LIVE_REPLICAS, which the sinks wait out).
 */
export function clusterClientSettings(insertQuorum: number): { insert_distributed_sync: 1; insert_quorum?: string } {
  return insertQuorum > 0 ? { insert_distributed_sync: 1, insert_quorum: String(insertQuorum) } : { insert_distributed_sync: 1 };
}

/**
 * The HTTP request timeout of a cluster connection, unless one is configured: above the servers'
 * `distributed_ddl_task_timeout` (180 s), for which an `ON CLUSTER` statement waits on the
 * slowest node, and above which a quorum insert is still waiting for a replica. A client that
 * gave up sooner would retry a statement the cluster is still running. The cost: a hung (not
 * dead) node holds a sink's insert this long before it is retried.
 */
export const CLUSTER_REQUEST_TIMEOUT_MS = 200_000;

/** A migration statement that cluster mode cannot translate, or a bad cluster name. */
export class ClusterDdlError extends Error {
  override name = "ClusterDdlError";
  readonly cluster: string;
  /** What is wrong, without the setting's name: for a caller that took the name from elsewhere (a flag). */
  readonly detail: string;
  constructor(cluster: string, detail: string) {
    super(`CLICKHOUSE_CLUSTER=${cluster}: ${detail}`);
    this.cluster = cluster;
    this.detail = detail;
  }
}

export function checkClusterName(cluster: string): void {
  if (!CLUSTER_NAME.test(cluster)) throw new ClusterDdlError(cluster, "expected a cluster name of <remote_servers> (letters, digits, underscore)");
}

/**
 * ` ON CLUSTER <cluster>` for a statement sluice runs or prints outside the migrations (the analyst
 * views, SQL users and grants: auth/clickhouse-users.ts), or "" on a single server.
 */
export function onCluster(cluster: string | undefined): string {
  if (cluster === undefined) return "";
  checkClusterName(cluster);
  return ` ON CLUSTER ${cluster}`;
}

/** `sluice.events` → `sluice.events_local`. */
export function localTableOf(table: string): string {
  return `${table}${LOCAL_SUFFIX}`;
}

function shortName(table: string): string {
  return table.startsWith(`${DATABASE}.`) ? table.slice(DATABASE.length + 1) : table;
}

const CREATE_DATABASE = /^CREATE DATABASE IF NOT EXISTS (\S+)$/;
const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS (\S+)\n(\([\s\S]*?\n\))\nENGINE = (\w*MergeTree)\(([^)]*)\)(\n[\s\S]*)$/;
const CREATE_VIEW = /^CREATE VIEW IF NOT EXISTS (\S+) AS\n([\s\S]*)$/;
const ADD_COLUMN = /^ALTER TABLE (\S+) (ADD COLUMN [\s\S]*)$/;
const MODIFY_TTL = /^ALTER TABLE (\S+) (MODIFY TTL [\s\S]*)$/;

/** The ZooKeeper path of a local table's replicas; one per shard. */
function replicaPath(localTable: string): string {
  return `/clickhouse/tables/{shard}/${localTable.replace(".", "/")}`;
}

function distributedEngine(cluster: string, table: string): string {
  const name = shortName(table);
  const key = SHARDING_KEYS[name];
  if (key === undefined) throw new ClusterDdlError(cluster, `table ${table} has no sharding key in clickhouse/cluster.ts SHARDING_KEYS; add one (columns of its ORDER BY) before running its migration on a cluster`);
  return `Distributed(${cluster}, ${DATABASE}, ${name}${LOCAL_SUFFIX}, ${key})`;
}

/**
 * The Distributed table over `table`'s local table, (re)created with the local table's columns.
 * Used after the local table changes columns: 18.16 refuses `ALTER … ON CLUSTER` on a table that
 * is not replicated when the cluster's shards replicate internally, so the Distributed table
 * (which holds no rows with synchronous inserts) is dropped and created again instead.
 */
function recreateDistributed(table: string, cluster: string): string[] {
  return [`DROP TABLE IF EXISTS ${table} ON CLUSTER ${cluster}`, createDistributed(table, cluster)];
}

function createDistributed(table: string, cluster: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} ON CLUSTER ${cluster} AS ${localTableOf(table)}\nENGINE = ${distributedEngine(cluster, table)}`;
}

/**
 * The cluster form of a migration's single-server statements, in order. A table whose columns
 * were added to gets its Distributed table recreated once, after the last of them.
 *
 * @example
 * clusterStatements(["CREATE TABLE IF NOT EXISTS sluice.events\n(\n  …\n)\nENGINE = ReplacingMergeTree()\nORDER BY …"], "prod")
 * // ["CREATE TABLE IF NOT EXISTS sluice.events_local ON CLUSTER prod\n(…)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/sluice/events_local', '{replica}')\nORDER BY …",
 * //  "CREATE TABLE IF NOT EXISTS sluice.events ON CLUSTER prod AS sluice.events_local\nENGINE = Distributed(prod, sluice, events_local, cityHash64(source, key))"]
 */
export function clusterStatements(statements: readonly string[], cluster: string): string[] {
  checkClusterName(cluster);
  const out: string[] = [];
  const altered = new Set<string>();
  for (const statement of statements) {
    let m = CREATE_DATABASE.exec(statement);
    if (m) {
      out.push(`CREATE DATABASE IF NOT EXISTS ${m[1]} ON CLUSTER ${cluster}`);
      continue;
    }
    m = CREATE_TABLE.exec(statement);
    if (m) {
      const [, table, columns, engine, args, rest] = m;
      const local = localTableOf(table);
      const replicated = `Replicated${engine}('${replicaPath(local)}', '{replica}'${args.trim() ? `, ${args.trim()}` : ""})`;
      out.push(`CREATE TABLE IF NOT EXISTS ${local} ON CLUSTER ${cluster}\n${columns}\nENGINE = ${replicated}${rest}`, createDistributed(table, cluster));
      continue;
    }
    m = CREATE_VIEW.exec(statement);
    if (m) {
      out.push(`CREATE VIEW IF NOT EXISTS ${m[1]} ON CLUSTER ${cluster} AS\n${m[2]}`);
      continue;
    }
    m = ADD_COLUMN.exec(statement);
    if (m) {
      out.push(`ALTER TABLE ${localTableOf(m[1])} ON CLUSTER ${cluster} ${m[2]}`);
      altered.add(m[1]);
      continue;
    }
    // TTL lives on the local tables; the Distributed one has none.
    m = MODIFY_TTL.exec(statement);
    if (m) {
      out.push(`ALTER TABLE ${localTableOf(m[1])} ON CLUSTER ${cluster} ${m[2]}`);
      continue;
    }
    throw new ClusterDdlError(cluster, `no cluster form for this statement, refusing to run it on one node only: ${statement.split("\n")[0]}`);
  }
  for (const table of altered) out.push(...recreateDistributed(table, cluster));
  return out;
}

const clusters = new WeakMap<object, string>();

/** Remembers that a client talks to a node of `cluster` (clickhouse/client.ts), for the DDL it runs later. */
export function registerCluster(client: object, cluster: string): void {
  clusters.set(client, cluster);
}

/** The cluster a client's DDL goes to, or undefined on a single server or the embedded engine. */
export function clusterOf(client: object): string | undefined {
  return clusters.get(client);
}

/**
 * Where partition DDL on `table` goes (`ALTER TABLE <target> DROP PARTITION …`) and which table's
 * parts `system.parts` lists: the table itself on one server; on a cluster the replicated local
 * table `ON CLUSTER` (a Distributed table has no partitions).
 */
export function partitionTarget(client: object, table: string): { alterTarget: string; partsTable: string } {
  const cluster = clusterOf(client);
  if (cluster === undefined) return { alterTarget: table, partsTable: shortName(table) };
  return { alterTarget: `${localTableOf(table)} ON CLUSTER ${cluster}`, partsTable: `${shortName(table)}${LOCAL_SUFFIX}` };
}
