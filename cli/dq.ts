import { loadConfig } from "../config/index.ts";
import { formatResult } from "../clickhouse/index.ts";
import { dqReportQuery } from "../quality/report.ts";
import { parse, UsageError } from "./args.ts";
import { parseSince } from "./dlq.ts";
import { querySluice } from "./sql.ts";

const USAGE = "sluice dq report [--since 1h] [--source iot] [--format table|json]";

export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, {
    since: { type: "string", default: "1h" },
    source: { type: "string" },
    format: { type: "string", default: "table" },
  }, USAGE);
  if (positionals[0] !== "report" || positionals.length > 1) throw new UsageError(`expected the subcommand "report"\nusage: ${USAGE}`);
  if (values.format !== "table" && values.format !== "json") throw new UsageError(`--format ${values.format}: expected table or json`);
  const sinceMs = parseSince(values.since, Date.now());
  const result = await querySluice(loadConfig(env), dqReportQuery({ sinceMs, source: values.source }));
  if (result.rows.length === 0 && values.format === "table") {
    console.log(`no data-quality results since ${new Date(sinceMs).toISOString()}`);
    return 0;
  }
  console.log(formatResult(result, values.format));
  return 0;
}
