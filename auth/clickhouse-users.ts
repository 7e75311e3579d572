import { createHash } from "node:crypto";
import { DATABASE, JOB_TABLES, TABLES } from "../clickhouse/schema.ts";
import { checkClusterName, onCluster } from "../clickhouse/cluster.ts";

/**
 * Least-privilege ClickHouse accounts for sluice, as `sluice deploy clickhouse-users` prints them:
 *
 * - `sluice_migrations` (role `sluice_migrator`): everything on `sluice` and `sluice_analyst`;
 * - `sluice_sink` (role `sluice_writer`): INSERT into the sluice tables, SELECT on them (a sink
 *   looks a redelivered row up before inserting it), ALTER ADD COLUMN on `sluice.events` (typed
 *   payload columns appear with new schema versions) and, on RBAC servers, dropping a day of
 *   `sluice.daily_rollups` (the rollup job recomputes it) — no DROP TABLE, TRUNCATE or other DDL;
 * - `sluice_reader` (role `analyst`): SELECT on the `sluice_analyst` views only, which leave out
 *   the columns that carry raw personal data (payloads and headers).
 *
 * Servers with SQL RBAC (20.4 and later) get `CREATE ROLE … GRANT` statements; 18.16, which has
 * no `CREATE ROLE`, gets a `users.d/*.xml` with one profile per account: `readonly = 1` for the
 * reader, `allow_ddl = 0` for the sink, and `allow_databases` confining each to its databases.
 * Measured on 18.16: a view's reader needs access to the database under it, so there the reader
 * is allowed `sluice` too and sees payloads — column hiding needs RBAC.
 *
 * On a cluster (`cluster`, CLICKHOUSE_CLUSTER) the views are created `ON CLUSTER` over the
 * Distributed tables, so every node has them; the SQL users, roles and grants are `ON CLUSTER`
 * too (the default role by `ALTER USER … ON CLUSTER`: `SET DEFAULT ROLE` has no cluster form).
 * 18.16 keeps users in each server's config files, so the same users.d file goes on every node.
 */

export const ANALYST_DATABASE = `${DATABASE}_analyst`;

/** The accounts, their roles and what each is for. */
export const CLICKHOUSE_ACCOUNTS = {
  migrator: { user: "sluice_migrations", role: "sluice_migrator" },
  writer: { user: "sluice_sink", role: "sluice_writer" },
  analyst: { user: "sluice_reader", role: "analyst" },
} as const;
export type ClickHouseAccount = keyof typeof CLICKHOUSE_ACCOUNTS;

/**
 * What the analyst views show of each table: every column but the raw personal data. Listed, not
 * `* EXCEPT` (18.16 has no EXCEPT), so a column a later migration adds stays hidden until it is
 * added here.
 */
export const ANALYST_VIEWS: Readonly<Record<string, { from: string; columns: readonly string[] | "*" }>> = {
  events: { from: TABLES.events, columns: ["event_id", "source", "key", "schema_version", "event_time", "ingest_time", "raw_subject", "raw_seq", "trace_id", "inserted_at"] },
  dead_letters: { from: TABLES.dead_letters, columns: ["dlq_id", "received_at", "actor", "source", "subject", "stream", "stream_seq", "deliveries", "reason", "error_code", "trace_id"] },
  // Aggregates and scores: no raw payload in them.
  window_aggregates: { from: TABLES.window_aggregates, columns: "*" },
  anomalies: { from: TABLES.anomalies, columns: "*" },
  forecasts: { from: TABLES.forecasts, columns: "*" },
  dq_results: { from: TABLES.dq_results, columns: "*" },
};

export interface ClickHouseUsersOptions {
  /** Server version, e.g. "18.16.1" or "24.8"; decides SQL RBAC or users.d XML. */
  readonly serverVersion: string;
  /** Each account's password; only its SHA-256 goes into the output. */
  readonly passwords: Readonly<Record<ClickHouseAccount, string>>;
  /** Networks the accounts may sign in from (IPs or CIDRs). */
  readonly networks: readonly string[];
  /** The cluster of `<remote_servers>` whose every node gets the accounts and views (CLICKHOUSE_CLUSTER). */
  readonly cluster?: string;
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split(".").map((p) => Number.parseInt(p, 10));
  if (!Number.isFinite(a) || !Number.isFinite(b)) throw new Error(`server version ${JSON.stringify(version)}: expected MAJOR.MINOR, e.g. 24.8 or 18.16.1`);
  return a > major || (a === major && b >= minor);
}

/** Whether the server has SQL users and roles (`CREATE ROLE`, 20.4+). */
export function hasSqlRbac(serverVersion: string): boolean {
  return versionAtLeast(serverVersion, 20, 4);
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * The views, one statement each. On servers whose plain views check the reader's access to the
 * tables under them (SQL SECURITY, 24.4+), the views run as the migration user instead —
 * except where there are no accounts (`accounts: false`: the embedded engine). With `cluster`,
 * on every node of it, reading the Distributed tables under the public names.
 */
export function analystViewStatements(serverVersion: string, opts: { accounts?: boolean; cluster?: string } = {}): string[] {
  const definer = opts.accounts !== false && versionAtLeast(serverVersion, 24, 4) ? ` DEFINER = ${CLICKHOUSE_ACCOUNTS.migrator.user} SQL SECURITY DEFINER` : "";
  const on = onCluster(opts.cluster);
  return [
    `CREATE DATABASE IF NOT EXISTS ${ANALYST_DATABASE}${on}`,
    ...Object.entries(ANALYST_VIEWS).map(([name, v]) => `CREATE VIEW IF NOT EXISTS ${ANALYST_DATABASE}.${name}${on}${definer} AS SELECT ${v.columns === "*" ? "*" : v.columns.join(", ")} FROM ${v.from}`),
  ];
}

/** `CREATE USER/ROLE … GRANT` for RBAC servers, one statement each; users first so the views can name their definer. */
export function clickhouseUsersSql(opts: ClickHouseUsersOptions): string[] {
  const hosts = opts.networks.map((n) => `IP '${n}'`).join(", ");
  const { migrator, writer, analyst } = CLICKHOUSE_ACCOUNTS;
  const on = onCluster(opts.cluster);
  // GRANT takes its cluster before the privileges: GRANT ON CLUSTER c SELECT ON db.* TO r.
  const grant = on ? `GRANT${on}` : "GRANT";
  const user = (account: ClickHouseAccount, extra = "") => {
    const { user, role } = CLICKHOUSE_ACCOUNTS[account];
    return [
      `CREATE USER IF NOT EXISTS ${user}${on} IDENTIFIED WITH sha256_hash BY '${sha256(opts.passwords[account])}' HOST ${hosts}${extra}`,
      `${grant} ${role} TO ${user}`,
      on ? `ALTER USER ${user}${on} DEFAULT ROLE ${role}` : `SET DEFAULT ROLE ${role} TO ${user}`,
    ];
  };
  return [
    ...Object.values(CLICKHOUSE_ACCOUNTS).map(({ role }) => `CREATE ROLE IF NOT EXISTS ${role}${on}`),
    `${grant} ALL ON ${DATABASE}.* TO ${migrator.role}`,
    `${grant} ALL ON ${ANALYST_DATABASE}.* TO ${migrator.role}`,
    `${grant} SELECT, INSERT ON ${DATABASE}.* TO ${writer.role}`,
    `${grant} ALTER ADD COLUMN ON ${TABLES.events} TO ${writer.role}`,
    // The daily rollup job replaces a day by dropping its partition (DROP PARTITION needs ALTER DELETE); rollups are recomputed from sluice.events.
    `${grant} ALTER DELETE ON ${JOB_TABLES.daily_rollups} TO ${writer.role}`,
    `${grant} SELECT ON ${ANALYST_DATABASE}.* TO ${analyst.role}`,
    ...user("migrator"),
    ...user("writer"),
    ...user("analyst", " SETTINGS readonly = 1"),
    ...analystViewStatements(opts.serverVersion, { cluster: opts.cluster }),
  ];
}

const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A `users.d/sluice.xml` for 18.16: profiles, users and a quota of their own (no limits, counted). */
export function clickhouseUsersXml(opts: ClickHouseUsersOptions): string {
  // The name goes into an XML comment below: checked, it cannot hold "--" or end the comment.
  if (opts.cluster !== undefined) checkClusterName(opts.cluster);
  const networks = opts.networks.map((n) => `<ip>${xmlEscape(n)}</ip>`).join("");
  const account = (name: ClickHouseAccount, databases: readonly string[]) => {
    const { user } = CLICKHOUSE_ACCOUNTS[name];
    return `    <${user}>
      <password_sha256_hex>${sha256(opts.passwords[name])}</password_sha256_hex>
      <networks>${networks}</networks>
      <profile>${user}</profile>
      <quota>sluice</quota>
      <allow_databases>${databases.map((d) => `<database>${d}</database>`).join("")}</allow_databases>
    </${user}>`;
  };
  return `<?xml version="1.0"?>
<!-- Generated by sluice deploy clickhouse-users: least-privilege accounts for ClickHouse 18.16,
     which has no CREATE ROLE. Put it in the server's users.d/ and create the analyst views as
     ${CLICKHOUSE_ACCOUNTS.migrator.user} (the command's views option prints them; XML comments
     cannot hold two dashes, so it is not spelled here).${opts.cluster ? `
     Cluster ${opts.cluster}: 18.16 reads users from each server's own config, so install this same
     file in users.d/ of every node of the cluster; create the views once, on any node, with the
     cluster named (they are made ON CLUSTER, on every node). A query through a Distributed table
     reads the other shards as the user of their replica in remote_servers, not as this account.` : ""} -->
<yandex>
  <profiles>
    <${CLICKHOUSE_ACCOUNTS.migrator.user}></${CLICKHOUSE_ACCOUNTS.migrator.user}>
    <!-- INSERT and SELECT; no CREATE, ALTER, DROP or TRUNCATE. -->
    <${CLICKHOUSE_ACCOUNTS.writer.user}><allow_ddl>0</allow_ddl></${CLICKHOUSE_ACCOUNTS.writer.user}>
    <!-- Reads only, and settings cannot be changed. -->
    <${CLICKHOUSE_ACCOUNTS.analyst.user}><readonly>1</readonly></${CLICKHOUSE_ACCOUNTS.analyst.user}>
  </profiles>
  <users>
${account("migrator", [DATABASE, ANALYST_DATABASE])}
${account("writer", [DATABASE])}
    <!-- 18.16 checks a view's reader against the databases under the view, so the analyst needs
         ${DATABASE} too: reads only, but the raw payload columns are not hidden here. Hiding them
         takes a server with SQL RBAC (20.4+), where the analyst role sees ${ANALYST_DATABASE} only. -->
${account("analyst", [ANALYST_DATABASE, DATABASE])}
  </users>
  <quotas>
    <sluice><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></sluice>
  </quotas>
</yandex>
`;
}
