import { embeddedDataDir, loadConfig, type Config } from "../config/index.ts";
import { MIGRATIONS, migrate, openClickHouse } from "../clickhouse/index.ts";
import { EventColumns } from "../clickhouse/columns.ts";
import { analystViewStatements } from "../auth/clickhouse-users.ts";
import { SHIPPED_SCHEMAS } from "../subjects/schemas/index.ts";
import { SchemaRegistry } from "../subjects/registry/index.ts";
import { SOURCES } from "../subjects/sources.ts";
import { closeNats, connectNats } from "../nats/connect.ts";
import { readLocalNatsUrl } from "./state.ts";
import { parse, UsageError } from "./args.ts";

const USAGE = "sluice migrate [--views]";

/**
 * `sluice migrate`: brings the `sluice` tables up to this sluice's schema, signed in as the
 * migrations account (CLICKHOUSE_MIGRATIONS_USER / _PASSWORD, else CLICKHOUSE_USER), and applies
 * the configured retention, and adds the typed `sluice.events` columns of the shipped schemas and,
 * when NATS is reachable, of every version in the schema registry (on 18.16 a sink account may
 * not ALTER, so they must exist before it starts: run it again after registering a schema with
 * new fields). Processes started with CLICKHOUSE_MIGRATE=off only check the schema
 * and wait for this; `--views` also creates the analyst views that the reader account reads
 * (`sluice deploy clickhouse-users --views` prints the same statements). Without CLICKHOUSE_URL
 * it migrates this state dir's embedded engine, which must not be open in another process. With
 * CLICKHOUSE_CLUSTER it migrates every node of that cluster through the one at CLICKHOUSE_URL,
 * the views included (`ON CLUSTER`, over the Distributed tables).
 */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, { views: { type: "boolean", default: false } }, USAGE);
  if (positionals.length) throw new UsageError(`unexpected ${positionals.join(" ")}\nusage: ${USAGE}`);
  const config = loadConfig(env);
  const account = config.clickhouseAccess.migrations;
  const ch = await openClickHouse({
    url: config.clickhouseUrl,
    user: account.user,
    password: account.password,
    dataDir: embeddedDataDir(config),
    engineMemoryMb: config.chdbMemoryMb,
    cluster: config.clickhouseCluster,
    logger: { info: () => undefined, warn: (m) => console.error(m) },
  });
  try {
    const { applied, current } = await migrate(ch.client, ch.caps, { retentionDays: config.retentionDays, logger: { info: (m) => console.error(m), warn: (m) => console.error(m) } });
    console.log(applied.length
      ? `migrated ${ch.target}: applied ${applied.length} of ${MIGRATIONS.length} migrations (${applied.join(", ")}); schema version ${current}`
      : `${ch.target} is at schema version ${current}: nothing to migrate`);
    const columns = new EventColumns(ch.client, ch.caps);
    await columns.load();
    const added: string[] = [];
    for (const [source, versions] of Object.entries(SHIPPED_SCHEMAS)) for (const schema of versions) added.push(...(await columns.ensure(source, schema)));
    for (const { source, schema } of await registeredSchemas(config)) added.push(...(await columns.ensure(source, schema)));
    if (added.length) console.log(`added typed columns to sluice.events: ${added.join(", ")}`);
    if (values.views) {
      for (const statement of analystViewStatements(ch.caps.version, { accounts: ch.kind === "server", cluster: config.clickhouseCluster })) await ch.client.command({ query: statement });
      console.log(`analyst views created (or already there)${config.clickhouseCluster ? ` on every node of ${config.clickhouseCluster}` : ""}`);
    }
  } finally {
    await ch.close();
  }
  return 0;
}

/** Every version in the schema registry, read as the operator; none (said on stderr) when NATS cannot be reached. */
async function registeredSchemas(config: Config): Promise<Array<{ source: string; schema: unknown }>> {
  const url = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  const nc = url ? await connectNats(url, config, "sluice:migrate", { wait: false, dialTimeoutMs: 2_000 }).catch((err: Error) => {
    console.error(`sluice migrate: NATS at ${url} not reachable (${err.message}): typed columns of the shipped schemas only`);
    return undefined;
  }) : undefined;
  if (!nc) return [];
  try {
    const registry = await SchemaRegistry.open(nc, { seed: false });
    try {
      return SOURCES.flatMap((source) => registry.versions(source).map((v) => ({ source, schema: registry.get(source, v)!.schema })));
    } finally {
      await registry.close();
    }
  } finally {
    await closeNats(nc);
  }
}
