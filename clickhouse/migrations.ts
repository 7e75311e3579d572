import type { ClickHouseClient } from "@clickhouse/client";
import type { Capabilities } from "./capabilities.ts";
import { clusterOf, ClusterDdlError, clusterStatements, LOCAL_SUFFIX } from "./cluster.ts";
import { targetOf, toClickHouseError } from "./errors.ts";
import { DETECT_MIGRATIONS } from "./migrations-detect.ts";
import { WINDOW_MIGRATIONS } from "./migrations-windows.ts";
import { QUALITY_MIGRATIONS } from "./migrations-quality.ts";
import { SCHEMA_MIGRATIONS } from "./migrations-schema.ts";
import { JOB_MIGRATIONS } from "./migrations-jobs.ts";
import { AUDIT_MIGRATIONS } from "./migrations-audit.ts";
import { columnTypes, DATABASE, MIGRATIONS_TABLE, RETENTION_COLUMN, TABLES, type MigrateOptions, type Migration, type TableName } from "./schema.ts";

export interface MigrationResult {
  /** Versions this call applied, in order; empty when the schema was current. */
  applied: number[];
  /** The highest version now applied. */
  current: number;
}

export class MigrationError extends Error {
  override name = "MigrationError";
  readonly version: number;
  readonly migration: string;
  readonly statement: string;
  constructor(migration: { version: number; name: string }, statement: string, cause: Error) {
    super(`migration ${migration.version} (${migration.name}) failed: ${cause.message}`, { cause });
    this.version = migration.version;
    this.migration = migration.name;
    this.statement = statement;
  }
}

/** The TTL expression for a table, or undefined where there is none to set. */
export function retentionTtl(caps: Capabilities, timeColumn: string, days: number | undefined): string | undefined {
  if (!caps.ttl || days === undefined) return undefined;
  if (!Number.isInteger(days) || days <= 0) throw new RangeError(`retentionDays must be a whole number of days above 0, got ${days}`);
  return `toDateTime(${timeColumn}) + toIntervalDay(${days})`;
}

function ttlClause(caps: Capabilities, timeColumn: string, days: number | undefined): string {
  const ttl = retentionTtl(caps, timeColumn, days);
  return ttl ? `\nTTL ${ttl}` : "";
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "create events",
    statements: (caps, opts) => {
      const t = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${TABLES.events}
(
    event_id String,
    source ${t.lowString},
    key String,
    schema_version UInt16,
    event_time ${t.time},
    ingest_time ${t.time},
    payload String${t.compressed},
    raw_subject String,
    raw_seq UInt64,
    trace_id String,
    inserted_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (source, key, event_time, event_id)${ttlClause(caps, RETENTION_COLUMN.events, opts.retentionDays)}`,
      ];
    },
  },
  {
    version: 2,
    name: "create dead_letters",
    statements: (caps, opts) => {
      const t = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${TABLES.dead_letters}
(
    dlq_id String,
    received_at ${t.time},
    actor ${t.lowString},
    source ${t.lowString},
    subject String,
    stream String,
    stream_seq UInt64,
    deliveries UInt32,
    reason String,
    error_code ${t.lowString},
    payload String${t.compressed},
    headers String,
    trace_id String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(received_at)
ORDER BY (actor, source, dlq_id)${ttlClause(caps, RETENTION_COLUMN.dead_letters, opts.retentionDays)}`,
      ];
    },
  },
  {
    version: 3,
    name: "create window_aggregates",
    statements: (caps, opts) => {
      const t = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${TABLES.window_aggregates}
(
    window_id String,
    source ${t.lowString},
    kind ${t.lowString},
    key String,
    metric ${t.lowString},
    window_start ${t.time},
    window_end ${t.time},
    count UInt64,
    sum Float64,
    min Float64,
    max Float64,
    mean Float64,
    stddev Float64,
    p50 Float64,
    p95 Float64,
    p99 Float64,
    distinct_count UInt64,
    version UInt64,
    emitted_at ${t.time},
    trace_id String
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (source, kind, metric, key, window_start, window_end)${ttlClause(caps, RETENTION_COLUMN.window_aggregates, opts.retentionDays)}`,
      ];
    },
  },
  ...WINDOW_MIGRATIONS,
  ...DETECT_MIGRATIONS,
  ...QUALITY_MIGRATIONS,
  ...SCHEMA_MIGRATIONS,
  ...JOB_MIGRATIONS,
  ...AUDIT_MIGRATIONS,
];

const BOOTSTRAP = [
  `CREATE DATABASE IF NOT EXISTS ${DATABASE}`,
  `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE}
(
    version UInt32,
    name String,
    applied_at DateTime DEFAULT now(),
    server_version String
)
ENGINE = ReplacingMergeTree()
ORDER BY version`,
];

/** A migration's statements as the target runs them: unchanged on one server, their `ON CLUSTER` form on a cluster (clickhouse/cluster.ts). */
function forTarget(statements: string[], opts: MigrateOptions): string[] {
  return opts.cluster === undefined ? statements : clusterStatements(statements, opts.cluster);
}

/** Every statement `migrate` would run on a fresh server (or cluster, `opts.cluster`) with these capabilities, in order. */
export function renderSchema(caps: Capabilities, opts: MigrateOptions = {}): string[] {
  return [...forTarget(BOOTSTRAP, opts), ...MIGRATIONS.flatMap((m) => forTarget(m.statements(caps, opts), opts))];
}

/** The migration versions recorded in `sluice.schema_migrations` (the table must exist). */
export async function appliedVersions(client: ClickHouseClient): Promise<Set<number>> {
  const result = await client.query({ query: `SELECT DISTINCT version FROM ${MIGRATIONS_TABLE}`, format: "JSONEachRow" });
  const rows = await result.json<{ version: number | string }>();
  return new Set(rows.map((r) => Number(r.version)));
}

/**
 * Brings database `sluice` to the latest schema: creates it and `sluice.schema_migrations`,
 * runs each migration not yet recorded there, records it, then applies the configured
 * retention to existing tables. A second run is a no-op. Every statement is IF NOT EXISTS,
 * so two processes migrating at once both succeed (the record may then appear twice, which
 * the version read ignores). On a client opened with a cluster (CLICKHOUSE_CLUSTER) every
 * statement runs in its `ON CLUSTER` form (clickhouse/cluster.ts) and reaches every node.
 *
 * @example
 * const { applied } = await migrate(ch.client, ch.caps, { retentionDays: 30 });
 */
export async function migrate(client: ClickHouseClient, caps: Capabilities, options: MigrateOptions = {}): Promise<MigrationResult> {
  // A client opened with a cluster (CLICKHOUSE_CLUSTER) migrates every node of it.
  const cluster = options.cluster ?? clusterOf(client);
  const opts: MigrateOptions = cluster === undefined ? options : { ...options, cluster };
  const run = async (migration: { version: number; name: string }, statement: string) => {
    try {
      await client.command({ query: statement });
    } catch (err) {
      throw new MigrationError(migration, statement, toClickHouseError(err, statement, targetOf(client)));
    }
  };
  // On a cluster the bootstrap is skipped once it is there: an ON CLUSTER statement waits for
  // every node, so with one replica down every process start would wait for it.
  if (opts.cluster === undefined || (await migrationsTableEngine(client)) !== "Distributed") {
    for (const statement of forTarget(BOOTSTRAP, opts)) await run({ version: 0, name: "bootstrap" }, statement);
  }
  await checkLayout(client, opts.cluster);

  const done = await appliedVersions(client);
  const known = Math.max(...MIGRATIONS.map((m) => m.version));
  const newest = Math.max(0, ...done);
  if (newest > known) {
    opts.logger?.warn(`clickhouse: ${DATABASE} is at schema version ${newest}, newer than this sluice knows (${known}); a newer sluice migrated it, so this one may write columns that have changed`);
  }
  const applied: number[] = [];
  for (const migration of MIGRATIONS) {
    if (done.has(migration.version)) continue;
    for (const statement of forTarget(migration.statements(caps, opts), opts)) await run(migration, statement);
    await client.insert({
      table: MIGRATIONS_TABLE,
      values: [{ version: migration.version, name: migration.name, server_version: caps.version }],
      columns: ["version", "name", "server_version"],
      format: "JSONEachRow",
    });
    applied.push(migration.version);
  }
  await applyRetention(client, caps, opts, run);
  return { applied, current: Math.max(0, ...done, ...applied) };
}

/** The engine of `sluice.schema_migrations` on the node `client` talks to; undefined before the bootstrap. */
async function migrationsTableEngine(client: ClickHouseClient): Promise<string | undefined> {
  const result = await client.query({ query: `SELECT engine FROM system.tables WHERE database = '${DATABASE}' AND name = '${MIGRATIONS_TABLE.slice(DATABASE.length + 1)}'`, format: "JSONEachRow" });
  return (await result.json<{ engine: string }>())[0]?.engine;
}

/**
 * The tables must be laid out for the mode: a single server's tables (plain MergeTree under the
 * public names) are not turned into a cluster's by setting CLICKHOUSE_CLUSTER, and a cluster's
 * Distributed tables must not be altered as if they were one server's. `schema_migrations`
 * tells which layout the database has.
 */
async function checkLayout(client: ClickHouseClient, cluster: string | undefined): Promise<void> {
  const engine = await migrationsTableEngine(client);
  if (cluster !== undefined && engine !== "Distributed") {
    throw new ClusterDdlError(cluster, `${targetOf(client)} holds single-server ${DATABASE} tables (${MIGRATIONS_TABLE} is ${engine}); cluster mode does not convert them. Migrate on fresh nodes and copy the rows over (INSERT INTO ${DATABASE}.<table> SELECT * FROM remote(...)), or unset CLICKHOUSE_CLUSTER`);
  }
  if (cluster === undefined && engine === "Distributed") {
    throw new MigrationError({ version: 0, name: "bootstrap" }, "", new Error(`${targetOf(client)} is a cluster node (${MIGRATIONS_TABLE} is Distributed): set CLICKHOUSE_CLUSTER to its cluster so migrations and new columns reach every node`));
  }
}

/**
 * Retention is configuration, not schema: a table created with another number of days (or
 * none) gets its TTL changed here. Removing a TTL is left to the operator, since REMOVE TTL
 * is missing on servers between 19.6 and 21.x.
 */
async function applyRetention(
  client: ClickHouseClient,
  caps: Capabilities,
  opts: MigrateOptions,
  run: (migration: { version: number; name: string }, statement: string) => Promise<void>,
): Promise<void> {
  if (!caps.ttl || opts.retentionDays === undefined) return;
  const result = await client.query({
    query: `SELECT name, engine_full FROM system.tables WHERE database = '${DATABASE}'`,
    format: "JSONEachRow",
  });
  const engines = new Map((await result.json<{ name: string; engine_full: string }>()).map((r) => [r.name, r.engine_full]));
  for (const table of Object.keys(TABLES) as TableName[]) {
    const ttl = retentionTtl(caps, RETENTION_COLUMN[table], opts.retentionDays)!;
    // On a cluster the TTL is the local (replicated) table's.
    const current = engines.get(opts.cluster === undefined ? table : `${table}${LOCAL_SUFFIX}`) ?? "";
    if (current.replace(/\s+/g, "").includes(`TTL${ttl.replace(/\s+/g, "")}`)) continue;
    for (const statement of forTarget([`ALTER TABLE ${TABLES[table]} MODIFY TTL ${ttl}`], opts)) await run({ version: 0, name: `retention of ${TABLES[table]}` }, statement);
    opts.logger?.info(`clickhouse: ${TABLES[table]} now keeps ${opts.retentionDays} days (TTL ${ttl})`);
  }
}
