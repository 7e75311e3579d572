import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { analystViewStatements, CLICKHOUSE_ACCOUNTS, clickhouseUsersSql, clickhouseUsersXml, hasSqlRbac, type ClickHouseAccount } from "../auth/clickhouse-users.ts";
import { ensureNatsUsers, natsAuthorizationConfig, NATS_ROLES } from "../auth/nats-users.ts";
import { isActorName, type ActorName } from "../actors/pipeline.ts";
import { loadConfig } from "../config/index.ts";
import { checkClusterName, ClusterDdlError } from "../clickhouse/cluster.ts";
import { parse, UsageError } from "./args.ts";
import { clusterClientUrl, clusterNodeConfig, DEFAULT_CLUSTER_SYNC, parseSync, type ClusterNode } from "./nats-cluster.ts";

const USAGE = "sluice deploy clickhouse-users [--server-version V] [--network CIDR,…] [--cluster NAME (default: CLICKHOUSE_CLUSTER)] [--views] [--out FILE]\n" +
  "       sluice deploy nats-config [--out DIR] [--process actor,actor…]… [--tls-cert FILE --tls-key FILE [--tls-ca FILE] [--tls-verify]]\n" +
  "       sluice deploy nats-cluster N [--out DIR] [--hosts H1,H2,…] [--ports CLIENT,ROUTE,MONITOR] [--store-dir DIR] [--domain D] [--sync 1s|always] [--server-version V (default: the nats-server on PATH, else 2.10)] [--process actor,actor…]…";

/** `--process a,b` lists: the actors of each process that gets a user of its own. */
function parseProcesses(lists: readonly string[] | undefined): ActorName[][] {
  return (lists ?? []).map((list) => {
    const names = list.split(",").map((n) => n.trim()).filter(Boolean);
    const unknown = names.filter((n) => !isActorName(n));
    if (!names.length || unknown.length) throw new UsageError(`--process ${JSON.stringify(list)}: ${unknown.length ? `unknown actor ${unknown.join(", ")}` : "name at least one actor"}`);
    return names as ActorName[];
  });
}

/** The major.minor of the nats-server on PATH (the configs must suit it: 2.9 refuses sync_interval), if there is one. */
function localNatsServerVersion(): string | undefined {
  try {
    return /v?(\d+\.\d+)/.exec(execFileSync("nats-server", ["--version"], { encoding: "utf8", timeout: 5_000 }))?.[1];
  } catch {
    return undefined;
  }
}

/** The route user's secret, kept in `<out>/cluster-route.json` (mode 0600) so a second run writes the same routes. */
function routeSecret(out: string): { user: string; password: string } {
  const file = join(out, "cluster-route.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as { user: string; password: string };
  const secret = { user: "sluice-route", password: randomBytes(24).toString("base64url") };
  writeFileSync(file, JSON.stringify(secret, null, 2) + "\n", { mode: 0o600 });
  return secret;
}

const port = (text: string, what: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--ports: ${what} port ${JSON.stringify(text)} is not a port number (1-65535)`);
  return n;
};

/**
 * `sluice deploy nats-cluster N`: one nats-server config per node (`<out>/<node>.conf`) of an
 * N-node JetStream cluster — cluster name, routes with a route user of their own, each node's
 * store dir, a JetStream domain, a `sync_interval` chosen and explained (cli/nats-cluster.ts) —
 * all including `<out>/auth.conf`, the generated users of `sluice deploy nats-config`, with their
 * credentials in `<out>/credentials/`. With `--hosts` each node runs on its own host at the same
 * ports; without, all run on this host (127.0.0.1) at consecutive ports, for a try-out.
 */
async function natsCluster(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    out: { type: "string", default: "deploy/nats-cluster" },
    hosts: { type: "string" },
    ports: { type: "string", default: "4222,6222,8222" },
    "store-dir": { type: "string" },
    domain: { type: "string", default: "sluice" },
    sync: { type: "string", default: DEFAULT_CLUSTER_SYNC },
    "server-version": { type: "string", default: localNatsServerVersion() ?? "2.10" },
    process: { type: "string", multiple: true },
  }, USAGE);
  const size = Number(positionals[0]);
  if (positionals.length !== 1 || !Number.isInteger(size) || size < 3 || size > 9) {
    throw new UsageError(`sluice deploy nats-cluster N: N must be a node count from 3 to 9 (got ${JSON.stringify(positionals.join(" "))}); JetStream needs a majority of nodes up, so 3 nodes survive the loss of 1 and 5 nodes of 2`);
  }
  const sync = parseSync(values.sync!);
  if (!sync) throw new UsageError(`--sync ${JSON.stringify(values.sync)}: expected always or a duration such as 1s, 500ms, 2m`);
  if (!/^\d+\.\d+/.test(values["server-version"]!)) throw new UsageError(`--server-version ${JSON.stringify(values["server-version"])}: expected major.minor, e.g. 2.10 or 2.9`);
  if (values.domain && !/^[A-Za-z0-9_-]+$/.test(values.domain)) throw new UsageError(`--domain ${JSON.stringify(values.domain)}: letters, digits, - and _ only (or --domain "" for none)`);
  const [client, route, monitor] = values.ports!.split(",").map((p) => p.trim());
  if (!client || !route || !monitor) throw new UsageError(`--ports ${JSON.stringify(values.ports)}: give three, the client, route and monitoring ports, e.g. 4222,6222,8222`);
  const hosts = values.hosts?.split(",").map((h) => h.trim()).filter(Boolean);
  if (hosts && hosts.length !== size) throw new UsageError(`--hosts names ${hosts.length} hosts for ${size} nodes: give one per node`);
  const out = resolve(values.out!);
  mkdirSync(out, { recursive: true });
  const storeBase = resolve(values["store-dir"] ?? join(out, "data"));
  // Nodes on one host need ports of their own; nodes on their own hosts share the same ones.
  const step = hosts ? 0 : 1;
  const nodes: ClusterNode[] = Array.from({ length: size }, (_, i) => ({
    name: `sluice-n${i + 1}`,
    host: hosts?.[i] ?? "127.0.0.1",
    clientPort: port(client, "client") + i * step,
    routePort: port(route, "route") + i * step,
    monitorPort: port(monitor, "monitoring") + i * step,
    storeDir: join(storeBase, `n${i + 1}`),
  }));
  const secret = routeSecret(out);
  const users = ensureNatsUsers(join(out, "credentials"), { partitions: loadConfig(process.env).partitions, processes: parseProcesses(values.process) });
  writeFileSync(join(out, "auth.conf"), natsAuthorizationConfig(users), { mode: 0o600 });
  const opts = { clusterName: "sluice", domain: values.domain || undefined, nodes, routeUser: secret.user, routePassword: secret.password, sync, serverVersion: values["server-version"]! };
  nodes.forEach((node, i) => writeFileSync(join(out, `${node.name}.conf`), clusterNodeConfig(opts, i), { mode: 0o600 }));
  const replicas = Math.min(3, size);
  console.error(`wrote ${nodes.map((n) => `${n.name}.conf`).join(", ")}, auth.conf (${users.length} users) and credentials/ in ${out}`);
  console.error(`start each node with: nats-server -c ${join(out, "<node>.conf")} (on its host, with auth.conf beside it)`);
  console.error(`then run sluice with NATS_URL=${clusterClientUrl(nodes)} SLUICE_REPLICAS=${replicas} SLUICE_NATS_CREDENTIALS=${join(out, "credentials")}`);
  return 0;
}

/**
 * `sluice deploy nats-config`: nats-server's authorization (`<out>/auth.conf`, included by
 * deploy/nats-server.conf) with a user per process of actors and per role, derived from the actor
 * declarations, and every user's credentials in `<out>/credentials/` (mode 0600; point
 * SLUICE_NATS_CREDENTIALS there, or hand one user's seed to a process as NATS_NKEY). Secrets
 * already there are kept, so running it again after an upgrade only updates permissions.
 */
async function natsConfig(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    out: { type: "string", default: "deploy" },
    process: { type: "string", multiple: true },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "tls-ca": { type: "string" },
    "tls-verify": { type: "boolean", default: false },
  }, USAGE);
  if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"])) throw new UsageError("--tls-cert and --tls-key go together");
  if ((values["tls-ca"] || values["tls-verify"]) && !values["tls-cert"]) throw new UsageError("--tls-ca and --tls-verify need --tls-cert and --tls-key");
  const processes = parseProcesses(values.process);
  const out = resolve(values.out!);
  mkdirSync(out, { recursive: true });
  const credentials = join(out, "credentials");
  const users = ensureNatsUsers(credentials, { partitions: loadConfig(process.env).partitions, processes });
  const tls = values["tls-cert"] ? { cert: values["tls-cert"], key: values["tls-key"], ca: values["tls-ca"], verify: values["tls-verify"] } : undefined;
  writeFileSync(join(out, "auth.conf"), natsAuthorizationConfig(users, tls), { mode: 0o600 });
  console.error(`wrote ${join(out, "auth.conf")} (${users.length} users) and their credentials in ${credentials} (mode 0600)`);
  console.error(`roles: ${NATS_ROLES.join(", ")}; show one with SLUICE_NATS_CREDENTIALS=${credentials} sluice creds show producer`);
  return 0;
}

/**
 * `sluice deploy clickhouse-users`: least-privilege ClickHouse accounts (auth/clickhouse-users.ts).
 * SQL RBAC for servers that have it (the default, a current server), a users.d XML for older ones
 * (`--server-version 18.16`; `--views` prints the analyst views to create there). New random
 * passwords each run: the output holds only their SHA-256, the passwords go to stderr once.
 * With `--cluster` (or CLICKHOUSE_CLUSTER) the SQL and the views are `ON CLUSTER`, run once on
 * any node; the 18.16 XML is the same file for every node, and stderr says so.
 */
export async function run(argv: string[]): Promise<number> {
  if (argv[0] === "nats-config") return natsConfig(argv.slice(1));
  if (argv[0] === "nats-cluster") return natsCluster(argv.slice(1));
  const { values, positionals } = parse(
    argv,
    {
      "server-version": { type: "string", default: "24.8" },
      network: { type: "string", default: "127.0.0.1,::1" },
      views: { type: "boolean", default: false },
      cluster: { type: "string" },
      out: { type: "string" },
    },
    USAGE,
  );
  if (positionals.length !== 1 || positionals[0] !== "clickhouse-users") throw new UsageError(`usage: ${USAGE}`);
  const version = values["server-version"]!;
  const networks = values.network!.split(",").map((n) => n.trim()).filter(Boolean);
  if (!networks.length) throw new UsageError("--network: give at least one IP or CIDR");
  const cluster = clusterName(values.cluster, process.env.CLICKHOUSE_CLUSTER);
  const rbac = hasSqlRbac(version);
  if (values.views) {
    emit(analystViewStatements(version, { cluster }).map((s) => `${s};`).join("\n") + "\n", values.out);
    if (cluster) console.error(`run them once, on any node of ${cluster}, as sluice_migrations (or run sluice migrate --views with CLICKHOUSE_CLUSTER=${cluster}): ON CLUSTER creates them on every node`);
    return 0;
  }
  const passwords = Object.fromEntries(Object.keys(CLICKHOUSE_ACCOUNTS).map((a) => [a, randomBytes(18).toString("base64url")])) as Record<ClickHouseAccount, string>;
  const opts = { serverVersion: version, passwords, networks, cluster };
  emit(rbac ? clickhouseUsersSql(opts).map((s) => `${s};`).join("\n") + "\n" : clickhouseUsersXml(opts), values.out);
  const apply = rbac
    ? `run it with clickhouse-client --multiquery as an admin${cluster ? `, once, on any node of ${cluster} (ON CLUSTER reaches every node)` : ""}`
    : cluster
      ? `put this same file in users.d/ of every node of ${cluster} (18.16 reads users from each server's own config) and restart them (or wait for the reload); then create the views once with sluice migrate --views and CLICKHOUSE_CLUSTER=${cluster}`
      : "put it in the server's users.d/ and restart (or wait for the reload)";
  console.error(`${apply}; passwords (shown once; give each process its account: CLICKHOUSE_MIGRATIONS_USER/_PASSWORD for sluice migrate, CLICKHOUSE_SINK_USER/_PASSWORD for the actors, CLICKHOUSE_READER_USER/_PASSWORD for the API's and sluice sql's reads, with CLICKHOUSE_MIGRATE=off where the migrations account is not given):`);
  for (const [account, { user }] of Object.entries(CLICKHOUSE_ACCOUNTS)) console.error(`  ${account.padEnd(8)} ${user.padEnd(18)} ${passwords[account as ClickHouseAccount]}`);
  return 0;
}

/**
 * The cluster the accounts are for: `--cluster`, else CLICKHOUSE_CLUSTER; empty is no cluster.
 * Only that one setting is read: the accounts are made before the rest of a deployment's settings
 * (CLICKHOUSE_URL among them) need to be complete or valid.
 */
function clusterName(flag: string | undefined, env: string | undefined): string | undefined {
  const [name, from] = flag !== undefined ? [flag, "--cluster"] : [env, "CLICKHOUSE_CLUSTER"];
  if (!name) return undefined;
  try {
    checkClusterName(name);
  } catch (err) {
    if (err instanceof ClusterDdlError) throw new UsageError(`${from} ${JSON.stringify(name)}: ${err.detail}; or --cluster '' for a single server`);
    throw err;
  }
  return name;
}

function emit(text: string, out: string | undefined): void {
  if (out) writeFileSync(out, text, { mode: 0o600 });
  else process.stdout.write(text);
}
