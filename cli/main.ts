import { ConfigError, loadConfig } from "../config/index.ts";
import { UsageError } from "./args.ts";

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[], env: Record<string, string | undefined>): Promise<number> }> }> = {
  up: { summary: "start nats-server (unless NATS_URL), ClickHouse, all actors and the generator", load: () => import("./up.ts") },
  actor: { summary: "run the named actors in this process: sluice actor validate window …", load: () => import("./actor.ts") },
  generate: { summary: "publish synthetic events to raw.* (--rate --duration --sources --seed)", load: () => import("./generate.ts") },
  sql: { summary: 'run a query: sluice sql "SELECT …" [--format table|json]', load: () => import("./sql.ts") },
  schema: { summary: "schema registry: list, show <source>[@v], check <source> <file>, add <source> <file> [--mode], mode <source> <mode>", load: () => import("./schema.ts") },
  eval: { summary: "score the detectors: sluice eval synthetic [--seed N --anomaly-rate F] | sluice eval nab --data DIR --out DIR | sluice eval forecast --data DIR | --synthetic", load: () => import("./eval.ts") },
  dlq: { summary: "dead letters: ls [--actor --source --reason --since --limit], show <id>, replay <filter>, purge <filter> [--yes]", load: () => import("./dlq.ts") },
  report: { summary: "report of a period as HTML or PDF: [--since 24h] [--out FILE.html|.pdf]; ls lists the newest (schedule: SLUICE_REPORT_CRON)", load: () => import("./report.ts") },
  lineage: { summary: "follow data: lineage event <event_id> (raw message, schema, trace, windows, late, anomalies, dead letters) | lineage window <window_id> (definition, versions, inputs)", load: () => import("./lineage.ts") },
  dq: { summary: "data quality: report [--since 1h] [--source S], counts per expectation from sluice.dq_results", load: () => import("./dq.ts") },
  lake: { summary: "the Parquet lake: ls [--dataset raw|events] [--source S], sql \"<query>\", replay --source S [--from T --to T] [--to-subject raw.<name>]", load: () => import("./lake.ts") },
  jobs: { summary: "scheduled jobs: ls, run <name> (in the process that owns ClickHouse), history [<name>] from sluice.job_runs", load: () => import("./jobs.ts") },
  keys: { summary: "the PII keyring: init (mode 0600 under the state dir, or SLUICE_KEYRING), rotate (new encryption key; old ones still decrypt), ls", load: () => import("./keys.ts") },
  deploy: { summary: "least-privilege accounts: deploy clickhouse-users [--server-version V] [--network CIDR,…] [--views] [--out FILE] (SQL RBAC, or users.d XML for 18.16)", load: () => import("./deploy.ts") },
  api: { summary: "HTTP API bearer tokens: api token create --role viewer|operator|admin [--name N] (shown once, stored hashed), api token ls, api token revoke <id|name>", load: () => import("./api-token.ts") },
  pii: { summary: "personal data: decrypt <event_id> (with the keyring), scan [--limit N] (card numbers, e-mails, precise coordinates in every stream and table)", load: () => import("./pii.ts") },
  ref: { summary: "reference data for enrichment (KV bucket per kind: sensors, merchants, users): load <kind> FILE.csv|.jsonl, get|put|rm <kind> <key>, ls <kind>, history <kind> <key>", load: () => import("./ref.ts") },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    "sluice: events from NATS JetStream to ClickHouse, validated, windowed and traced.",
    "",
    "usage: sluice <command> [flags]",
    "",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "Environment: NATS_URL, CLICKHOUSE_URL, SLUICE_STATE_DIR, OTEL_EXPORTER_OTLP_ENDPOINT (see README).",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`sluice: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    loadConfig(process.env);
    return await (await command.load()).run(rest, process.env);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      console.error(`sluice ${name}: ${err.message}`);
      return 2;
    }
    console.error(`sluice ${name}: ${(err as Error).message ?? String(err)}`);
    return 1;
  }
}

// Exit explicitly: an embedded engine's native threads may keep the event loop alive after close.
const code = await main(process.argv.slice(2));
process.stdout.write("", () => process.exit(code));
