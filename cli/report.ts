import { loadConfig } from "../config/index.ts";
import { formatResult } from "../clickhouse/index.ts";
import { gatherReport } from "../reports/data.ts";
import { formatOf, listReports, reportsDir, writeReport } from "../reports/store.ts";
import { parse, positiveNumber, UsageError } from "./args.ts";
import { parseSince } from "./dlq.ts";
import { sluiceRows } from "./rows.ts";
import { readLocalNatsUrl } from "./state.ts";
import { closeNats, connectNats } from "../nats/connect.ts";
import { withDeadline } from "../nats/deadline.ts";
import { consumerLag } from "../otel/lag.ts";

const USAGE = `sluice report [--since 24h] [--out FILE.html|FILE.pdf] [--name NAME] [--chromium PATH]
       sluice report ls [--limit 20] [--format table|json]`;

/**
 * `sluice report`: the period's volumes, data quality, dead letters, anomalies, forecast accuracy
 * and lag as HTML (or PDF through headless chromium), written to `--out` or the state dir's
 * `reports/`. `sluice report ls` lists the newest ones, whoever wrote them (this command or the
 * SLUICE_REPORT_CRON schedule).
 */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, {
    since: { type: "string", default: "24h" },
    out: { type: "string" },
    name: { type: "string", default: "adhoc" },
    chromium: { type: "string" },
    limit: { type: "string" },
    format: { type: "string", default: "table" },
  }, USAGE);
  const config = loadConfig(env);
  const dir = reportsDir(config.stateDir);
  if (positionals[0] === "ls") {
    if (values.format !== "table" && values.format !== "json") throw new UsageError(`--format ${values.format}: expected table or json`);
    const entries = listReports(dir, positiveNumber(values.limit, "--limit", 20));
    console.log(formatResult({
      columns: ["name", "from", "to", "events", "dead_letters", "anomalies", "files"].map((name) => ({ name, type: "String" })),
      rows: entries.map((e) => [e.name, e.from, e.to, e.events, e.dead_letters, e.anomalies, e.files.join(" ")]),
    }, values.format));
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`);
  if (values.out && !formatOf(values.out)) throw new UsageError(`--out ${values.out}: expected a file ending in .html or .pdf`);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(values.name)) throw new UsageError(`--name ${JSON.stringify(values.name)}: letters, digits, _ and - only (it is a subject token and a file name)`);
  const toMs = Date.now();
  const rows = sluiceRows(config);
  // Lag when NATS is there to ask; a report without it says so.
  const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  const nc = natsUrl ? await connectNats(natsUrl, config, "sluice:report", { wait: false, dialTimeoutMs: 1_000 }).catch(() => undefined) : undefined;
  try {
    const lag = nc ? consumerLag(nc) : undefined;
    const data = await gatherReport({ name: values.name, rows, period: { fromMs: parseSince(values.since, toMs), toMs }, lag: lag && (() => withDeadline(lag(), { what: "consumer lag" })) });
    const entry = await writeReport(data, { dir, out: values.out, chromiumPath: values.chromium });
    console.log(entry.files.join("\n"));
  } finally {
    if (nc) await closeNats(nc);
  }
  return 0;
}
