import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { analystViewStatements, CLICKHOUSE_ACCOUNTS, clickhouseUsersSql, clickhouseUsersXml, hasSqlRbac, type ClickHouseAccount } from "../auth/clickhouse-users.ts";
import { parse, UsageError } from "./args.ts";

const USAGE = "sluice deploy clickhouse-users [--server-version V] [--network CIDR,…] [--views] [--out FILE]";

/**
 * `sluice deploy clickhouse-users`: least-privilege ClickHouse accounts (auth/clickhouse-users.ts).
 * SQL RBAC for servers that have it (the default, a current server), a users.d XML for older ones
 * (`--server-version 18.16`; `--views` prints the analyst views to create there). New random
 * passwords each run: the output holds only their SHA-256, the passwords go to stderr once.
 */
export async function run(argv: string[]): Promise<number> {
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
  console.error(`${rbac ? "run it with clickhouse-client --multiquery as an admin" : "put it in the server's users.d/ and restart (or wait for the reload)"}; passwords (shown once, set them as CLICKHOUSE_USER / CLICKHOUSE_PASSWORD):`);
  for (const [account, { user }] of Object.entries(CLICKHOUSE_ACCOUNTS)) console.error(`  ${account.padEnd(8)} ${user.padEnd(18)} ${passwords[account as ClickHouseAccount]}`);
  return 0;
}

function emit(text: string, out: string | undefined): void {
  if (out) writeFileSync(out, text, { mode: 0o600 });
  else process.stdout.write(text);
}
