import { embeddedDataDir, loadConfig, type Config } from "../config/index.ts";
import { formatResult, openClickHouse, runQuery, type OpenClickHouse, type Tabular } from "../clickhouse/index.ts";
import { askSql, NoSqlOwnerError } from "../clickhouse/sql-rpc.ts";
import { connectNats } from "../nats/connect.ts";
import { parse, UsageError } from "./args.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = 'sluice sql "<query>" [--format table|json]';

type Result = Tabular;

/**
 * Asks the process that owns this state dir's embedded engine; undefined when NATS is not there
 * or no process owns that directory (another directory's owner is never asked).
 */
async function askOwner(url: string, config: Config, query: string): Promise<Result | undefined> {
  const nc = await connectNats(url, config, "sluice:sql", { wait: false, dialTimeoutMs: 1_000 }).catch(() => undefined);
  if (!nc) return undefined;
  try {
    const answer = await askSql(nc, query, embeddedDataDir(config), 60_000);
    if (answer.truncated) console.error(`sluice sql: the answer was cut at ${answer.rows.length} rows (the read limit over NATS); narrow the query or add a LIMIT`);
    return { columns: answer.columns, rows: answer.rows };
  } catch (err) {
    if (err instanceof NoSqlOwnerError) return undefined;
    throw err;
  } finally {
    await nc.close();
  }
}

export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, { format: { type: "string", default: "table" } }, USAGE);
  const query = positionals.join(" ").trim();
  if (!query) throw new UsageError(`no query given\nusage: ${USAGE}`);
  if (values.format !== "table" && values.format !== "json") throw new UsageError(`--format ${values.format}: expected table or json`);
  console.log(formatResult(await querySluice(loadConfig(env), query), values.format));
  return 0;
}

/**
 * The configured server, or this state dir's embedded engine, as a CLI command opens it itself
 * (warnings to stderr); on a server as `account`: the reader for queries, the sink for rows a command writes.
 */
export function openConfiguredClickHouse(config: Config, account: "reader" | "sink"): Promise<OpenClickHouse> {
  return openClickHouse({
    url: config.clickhouseUrl,
    user: config.clickhouseAccess[account].user,
    password: config.clickhouseAccess[account].password,
    dataDir: embeddedDataDir(config),
    logger: { info: () => undefined, warn: (m) => console.error(m) },
  });
}

/** Runs SQL where it can: the owner of the embedded engine over NATS, else the engine or server itself. */
export async function querySluice(config: Config, query: string): Promise<Result> {
  let result: Result | undefined;
  if (!config.clickhouseUrl) {
    const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
    if (natsUrl) result = await askOwner(natsUrl, config, query);
  }
  if (!result) {
    const ch = await openConfiguredClickHouse(config, "reader");
    try {
      const { columns, rows } = await runQuery(ch.client, query);
      result = { columns, rows };
    } finally {
      await ch.close();
    }
  }
  return result;
}
