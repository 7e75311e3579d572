import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { analystViewStatements, CLICKHOUSE_ACCOUNTS, clickhouseUsersSql, clickhouseUsersXml, hasSqlRbac, type ClickHouseAccount } from "../auth/clickhouse-users.ts";
import { ensureNatsUsers, natsAuthorizationConfig, NATS_ROLES } from "../auth/nats-users.ts";
import { isActorName, type ActorName } from "../actors/pipeline.ts";
import { loadConfig } from "../config/index.ts";
import { parse, UsageError } from "./args.ts";

const USAGE = "sluice deploy clickhouse-users [--server-version V] [--network CIDR,…] [--views] [--out FILE]\n" +
  "       sluice deploy nats-config [--out DIR] [--process actor,actor…]… [--tls-cert FILE --tls-key FILE [--tls-ca FILE] [--tls-verify]]";

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
  const processes: ActorName[][] = (values.process ?? []).map((list) => {
    const names = list.split(",").map((n) => n.trim()).filter(Boolean);
    const unknown = names.filter((n) => !isActorName(n));
    if (!names.length || unknown.length) throw new UsageError(`--process ${JSON.stringify(list)}: ${unknown.length ? `unknown actor ${unknown.join(", ")}` : "name at least one actor"}`);
    return names as ActorName[];
  });
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
 */
export async function run(argv: string[]): Promise<number> {
  if (argv[0] === "nats-config") return natsConfig(argv.slice(1));
  const { values, positionals } = parse(
    argv,
    {
      "server-version": { type: "string", default: "24.8" },
      network: { type: "string", default: "127.0.0.1,::1" },
      views: { type: "boolean", default: false },
      out: { type: "string" },
    },
    USAGE,
  );
  if (positionals.length !== 1 || positionals[0] !== "clickhouse-users") throw new UsageError(`usage: ${USAGE}`);
  const version = values["server-version"]!;
  const networks = values.network!.split(",").map((n) => n.trim()).filter(Boolean);
  if (!networks.length) throw new UsageError("--network: give at least one IP or CIDR");
  const rbac = hasSqlRbac(version);
  if (values.views) {
    emit(analystViewStatements(version).map((s) => `${s};`).join("\n") + "\n", values.out);
    return 0;
  }
  const passwords = Object.fromEntries(Object.keys(CLICKHOUSE_ACCOUNTS).map((a) => [a, randomBytes(18).toString("base64url")])) as Record<ClickHouseAccount, string>;
  const opts = { serverVersion: version, passwords, networks };
  emit(rbac ? clickhouseUsersSql(opts).map((s) => `${s};`).join("\n") + "\n" : clickhouseUsersXml(opts), values.out);
  console.error(`${rbac ? "run it with clickhouse-client --multiquery as an admin" : "put it in the server's users.d/ and restart (or wait for the reload)"}; passwords (shown once; give each process its account: CLICKHOUSE_MIGRATIONS_USER/_PASSWORD for sluice migrate, CLICKHOUSE_SINK_USER/_PASSWORD for the actors, CLICKHOUSE_READER_USER/_PASSWORD for the API's and sluice sql's reads, with CLICKHOUSE_MIGRATE=off where the migrations account is not given):`);
  for (const [account, { user }] of Object.entries(CLICKHOUSE_ACCOUNTS)) console.error(`  ${account.padEnd(8)} ${user.padEnd(18)} ${passwords[account as ClickHouseAccount]}`);
  return 0;
}

function emit(text: string, out: string | undefined): void {
  if (out) writeFileSync(out, text, { mode: 0o600 });
  else process.stdout.write(text);
}
