import { Cron } from "croner";
import { formatResult, quoteString, type Tabular } from "../clickhouse/index.ts";
import { JOB_TABLES } from "../clickhouse/schema.ts";
import { loadConfig, type Config } from "../config/index.ts";
import { shippedJobs, type RunReply } from "../jobs/index.ts";
import { connectNats } from "../nats/connect.ts";
import { subject } from "../subjects/catalog.ts";
import { parse, positiveNumber, UsageError } from "./args.ts";
import { querySluice } from "./sql.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = "sluice jobs ls | run <name> | history [<name>] [--limit N] [--format table|json]";

const FORMATS = ["table", "json"] as const;
type Format = (typeof FORMATS)[number];

function format(value: string | undefined): Format {
  if (!FORMATS.includes((value ?? "table") as Format)) throw new UsageError(`--format ${value}: expected table or json`);
  return (value ?? "table") as Format;
}

/** Each job's latest attempt, from sluice.job_runs. */
function lastRunsQuery(): string {
  return `SELECT job, argMax(outcome, started_at) AS last_outcome, max(started_at) AS last_start, argMax(error, started_at) AS last_error FROM ${JOB_TABLES.job_runs} GROUP BY job`;
}

export function historyQuery(job: string | undefined, limit: number): string {
  const where = job ? ` WHERE job = ${quoteString(job)}` : "";
  return `SELECT job, run_id, trigger, scheduled_at, attempt, started_at, duration_ms, outcome, error, detail FROM ${JOB_TABLES.job_runs}${where} ORDER BY started_at DESC, attempt DESC LIMIT ${limit}`;
}

/** The jobs `sluice up` runs with this configuration: the report's when SLUICE_REPORT_CRON is set. */
const jobsOf = (config: Config) => shippedJobs(config.reportCron ? { cron: config.reportCron } : undefined);

async function ls(config: Config, fmt: Format): Promise<number> {
  const last = new Map<string, unknown[]>();
  try {
    for (const row of (await querySluice(config, lastRunsQuery())).rows) last.set(String(row[0]), row);
  } catch (err) {
    console.error(`(last runs unknown: ${(err as Error).message})`);
  }
  const table: Tabular = {
    columns: ["job", "schedule", "next run (UTC)", "last outcome", "last start", "description"].map((name) => ({ name, type: "String" })),
    rows: jobsOf(config).map((j) => {
      const l = last.get(j.name);
      return [j.name, j.schedule, new Cron(j.schedule, { timezone: "UTC", paused: true }).nextRun()?.toISOString() ?? "", l?.[1] ?? "never run", l?.[2] ?? "", j.description];
    }),
  };
  console.log(formatResult(table, fmt, { maxCellWidth: 100 }));
  return 0;
}

async function runNow(config: Config, name: string | undefined): Promise<number> {
  const names = jobsOf(config).map((j) => j.name);
  if (!name) throw new UsageError(`which job? ${names.join(", ")}\nusage: ${USAGE}`);
  if (!names.includes(name)) throw new UsageError(`no job ${JSON.stringify(name)}; jobs: ${names.join(", ")}${name === "report" ? " (the report job needs SLUICE_REPORT_CRON)" : ""}`);
  const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  if (!natsUrl) throw new UsageError("no NATS server: set NATS_URL or start `sluice up` (jobs run in the process that owns ClickHouse)");
  const nc = await connectNats(natsUrl, config, "sluice:jobs", { wait: false, dialTimeoutMs: 2_000 });
  try {
    // A run may wait on a sensor and retry with backoff: the answer comes when it is over.
    const reply = await nc.request(subject.jobsService(), JSON.stringify({ job: name }), { timeout: 6 * 3_600_000 }).catch((err: Error) => {
      throw new Error(/no responders/i.test(err.message) ? "no process runs the jobs: start `sluice up` (or the ClickHouse sinks) first" : err.message, { cause: err });
    });
    const answer = JSON.parse(reply.string()) as RunReply;
    if (!answer.ok) throw new Error(answer.error);
    const { last } = answer;
    console.log(`${name}: ${last.outcome} after ${last.attempt} attempt(s)${last.detail ? `: ${last.detail}` : ""}${last.error ? ` (${last.error})` : ""}`);
    return last.outcome === "ok" ? 0 : 1;
  } finally {
    await nc.close();
  }
}

export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, { limit: { type: "string" }, format: { type: "string" } }, USAGE);
  const [sub, name] = positionals;
  const config = loadConfig(env);
  const fmt = format(values.format);
  if (sub === "ls") return ls(config, fmt);
  if (sub === "run") return runNow(config, name);
  if (sub === "history") {
    console.log(formatResult(await querySluice(config, historyQuery(name, positiveNumber(values.limit, "--limit", 50))), fmt, { maxCellWidth: 80 }));
    return 0;
  }
  throw new UsageError(`unknown jobs command ${JSON.stringify(sub ?? "")}\nusage: ${USAGE}`);
}
