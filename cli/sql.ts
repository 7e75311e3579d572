import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { loadConfig, type Config } from "../config/index.ts";
import { formatResult, openClickHouse, runQuery, type Tabular } from "../clickhouse/index.ts";
import { subject } from "../subjects/catalog.ts";
import type { SqlReply } from "../api/sql-rpc.ts";
import { parse, UsageError } from "./args.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = 'sluice sql "<query>" [--format table|json]';

type Result = Tabular;

/** Asks the process that owns the embedded engine; undefined when no such process answers. */
async function askOwner(url: string, query: string): Promise<Result | undefined> {
  const nc = await connect({ servers: url, timeout: 1_000 }).catch(() => undefined);
  if (!nc) return undefined;
  try {
    const reply = await nc.request(subject.sqlService(), JSON.stringify({ query }), { timeout: 60_000 }).catch((err: Error) => {
      if (/no responders|503/i.test(err.message)) return undefined;
      throw err;
    });
    if (!reply) return undefined;
    const answer = JSON.parse(new TextDecoder().decode(reply.data)) as SqlReply;
    if (!answer.ok) throw new Error(answer.error);
    return { columns: answer.columns, rows: answer.rows };
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

/** Runs SQL where it can: the owner of the embedded engine over NATS, else the engine or server itself. */
export async function querySluice(config: Config, query: string): Promise<Result> {
  let result: Result | undefined;
  if (!config.clickhouseUrl) {
    const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
    if (natsUrl) result = await askOwner(natsUrl, query);
  }
  if (!result) {
    const ch = await openClickHouse({
      url: config.clickhouseUrl,
      user: config.clickhouseUser,
      password: config.clickhousePassword,
      dataDir: join(config.stateDir, "clickhouse"),
      logger: { info: () => undefined, warn: (m) => console.error(m) },
    });
    try {
      const { columns, rows } = await runQuery(ch.client, query);
      result = { columns, rows };
    } finally {
      await ch.close();
    }
  }
  return result;
}
