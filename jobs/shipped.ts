import type { ClickHouseClient } from "@clickhouse/client";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Capabilities } from "../clickhouse/capabilities.ts";
import { JOB_TABLES, TABLES, type TableName } from "../clickhouse/schema.ts";
import { partitionTarget } from "../clickhouse/cluster.ts";
import { compactLake, expireLake, type LakeStore } from "../lake/index.ts";
import type { ReportLag } from "../reports/data.ts";
import { DEFAULT_SETTLE_MS, produceReport, reportPeriods } from "../reports/schedule.ts";
import type { ReportFormat } from "../reports/store.ts";
import type { JobDefinition, Sensor } from "./job.ts";

/** What the shipped jobs work with: the process's ClickHouse and the lake. */
export interface JobDeps {
  readonly client: ClickHouseClient;
  readonly caps: Capabilities;
  /** Opened when a job first needs it (a Parquet engine; chDB in memory beside a server). */
  readonly lake: () => Promise<LakeStore>;
  /** Days kept: tables (dropped by partition where the server has no TTL) and the lake. Undefined: kept forever. */
  readonly retentionDays?: number;
  readonly lakeRetentionDays?: number;
  /** Where the scheduled report goes (besides the lake) and what it reads beside ClickHouse; needed by the report job alone. */
  readonly reports?: ReportDeps;
}

export interface ReportDeps {
  /** Announces each report on `reports.<name>`. */
  readonly nc: NatsConnection;
  /** Reports are written to `<state dir>/reports`. */
  readonly stateDir: string;
  readonly formats?: readonly ReportFormat[];
  readonly chromiumPath?: string;
  readonly lag?: () => Promise<ReportLag[]>;
}

/** The report job ran in a process that was given no ReportDeps (a wiring mistake, not a runtime state). */
export class ReportDepsMissingError extends Error {
  constructor(job: string) {
    super(`job ${job}: no reports dependencies (NATS connection, state dir) were given to the jobs of this process`);
    this.name = "ReportDepsMissingError";
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

async function rows<T>(client: ClickHouseClient, query: string, signal?: AbortSignal): Promise<T[]> {
  return (await client.query({ query, format: "JSONEachRow", abort_signal: signal })).json<T>();
}

/** The UTC day before the scheduled time: the one a daily job is for. */
export function dayBefore(scheduledAtMs: number): { startMs: number; endMs: number; day: string } {
  const endMs = Math.floor(scheduledAtMs / DAY_MS) * DAY_MS;
  return { startMs: endMs - DAY_MS, endMs, day: dayOf(endMs - DAY_MS) };
}

/**
 * True once every source that has events on the day has an event after the day's end: its
 * watermark (the newest event time seen) has passed the day, so no on-time event of the day is
 * still to come. Late ones arrive as late events, outside the rollup.
 */
export const watermarksPastDay: Sensor<JobDeps> = {
  name: "watermarks-past-day",
  everyMs: 60_000,
  timeoutMs: 6 * HOUR_MS,
  async check({ client }, run) {
    const { startMs, endMs, day } = dayBefore(run.scheduledAtMs);
    const seen = await rows<{ source: string; newest: number }>(client, `SELECT source, toUInt32(toDateTime(max(event_time))) AS newest FROM ${TABLES.events} WHERE event_time >= toDateTime(${Math.floor(startMs / 1000)}) GROUP BY source ORDER BY source`);
    const behind = seen.filter((s) => Number(s.newest) * 1000 < endMs);
    if (seen.length === 0) return { ok: true, detail: `no events on ${day}` };
    return behind.length === 0
      ? { ok: true, detail: `every source passed the end of ${day}` }
      : { ok: false, detail: `${behind.map((s) => `${s.source} at ${new Date(Number(s.newest) * 1000).toISOString()}`).join(", ")}; waiting for ${new Date(endMs).toISOString()}` };
  },
};

/** Per-key counts of a complete day into sluice.daily_rollups; a re-run replaces the day's partition. */
export const rollupDaily: JobDefinition<JobDeps> = {
  name: "rollup-daily",
  description: "per (source, key) event counts and first/last event time of the day before, once every source's watermark passed it",
  schedule: "30 0 * * *",
  timeoutMs: 30 * 60_000,
  retry: { attempts: 4, firstDelayMs: 60_000, maxDelayMs: 15 * 60_000 },
  sensor: watermarksPastDay,
  async run({ client }, ctx) {
    const { startMs, endMs, day } = dayBefore(ctx.scheduledAtMs);
    // DROP PARTITION is synchronous on 18.16 and on chDB (a DELETE mutation is not), so the
    // insert that follows never meets the old rows.
    await client.command({ query: `ALTER TABLE ${partitionTarget(client, JOB_TABLES.daily_rollups).alterTarget} DROP PARTITION '${day}'`, abort_signal: ctx.signal });
    await client.command({
      query: `INSERT INTO ${JOB_TABLES.daily_rollups} (day, source, key, events, first_event, last_event, computed_at)
SELECT toDate('${day}'), source, key, count(), toDateTime(min(event_time)), toDateTime(max(event_time)), now()
FROM ${TABLES.events} FINAL
WHERE event_time >= toDateTime(${startMs / 1000}) AND event_time < toDateTime(${endMs / 1000})
GROUP BY source, key`,
      abort_signal: ctx.signal,
    });
    const [{ n }] = await rows<{ n: number }>(client, `SELECT count() AS n FROM ${JOB_TABLES.daily_rollups} WHERE day = '${day}'`, ctx.signal);
    return `${n} keys on ${day}`;
  },
};

/** Each complete partition-hour of the lake into one file. */
export const lakeCompact: JobDefinition<JobDeps> = {
  name: "lake-compact",
  description: "merge each complete hour's small lake files into one per partition (exactly once; the sink's hour and the one before are left alone)",
  schedule: "15 * * * *",
  timeoutMs: 30 * 60_000,
  retry: { attempts: 3, firstDelayMs: 30_000, maxDelayMs: 5 * 60_000 },
  async run({ lake }, ctx) {
    // An hour that ended over an hour ago: the sink no longer rewrites its files after a crash.
    const { merged, removed } = await compactLake(await lake(), ctx.scheduledAtMs - HOUR_MS);
    return `${merged} partition-hours merged, ${removed} files removed`;
  },
};

/**
 * Days by partition: YYYYMMDD or YYYYMM as the daily and monthly partition keys print them. A
 * month is old once its last day is.
 */
function partitionEndMs(partition: string): number | undefined {
  const p = partition.replace(/'/g, "");
  if (/^\d{8}$/.test(p)) return Date.UTC(Number(p.slice(0, 4)), Number(p.slice(4, 6)) - 1, Number(p.slice(6, 8)) + 1);
  if (/^\d{6}$/.test(p)) return Date.UTC(Number(p.slice(0, 4)), Number(p.slice(4, 6)), 1);
  return undefined;
}

/** Retention where nothing else enforces it: tables on a server without TTL (18.16), and the lake. */
export const retention: JobDefinition<JobDeps> = {
  name: "retention",
  description: "drop table partitions older than SLUICE_RETENTION_DAYS on servers without TTL, and lake files older than SLUICE_LAKE_RETENTION_DAYS",
  schedule: "45 3 * * *",
  timeoutMs: 60 * 60_000,
  retry: { attempts: 3, firstDelayMs: 60_000, maxDelayMs: 10 * 60_000 },
  async run({ client, caps, lake, retentionDays, lakeRetentionDays }, ctx) {
    const done: string[] = [];
    if (retentionDays !== undefined && !caps.ttl) {
      const cutoff = ctx.scheduledAtMs - retentionDays * DAY_MS;
      for (const table of Object.keys(TABLES) as TableName[]) {
        const [database] = TABLES[table].split(".");
        const { alterTarget, partsTable } = partitionTarget(client, TABLES[table]);
        const parts = await rows<{ partition: string }>(client, `SELECT DISTINCT partition FROM system.parts WHERE database = '${database}' AND table = '${partsTable}' AND active`, ctx.signal);
        for (const { partition } of parts) {
          const end = partitionEndMs(partition);
          if (end === undefined || end > cutoff) continue;
          await client.command({ query: `ALTER TABLE ${alterTarget} DROP PARTITION ${partition}`, abort_signal: ctx.signal });
          done.push(`${TABLES[table]} ${partition}`);
        }
      }
    }
    const lakeRemoved = lakeRetentionDays === undefined ? 0 : await expireLake(await lake(), ctx.scheduledAtMs - lakeRetentionDays * DAY_MS);
    return `${done.length} partitions dropped${done.length ? ` (${done.join(", ")})` : ""}, ${lakeRemoved} lake files removed`;
  },
};

export interface ReportJobSettings {
  /** SLUICE_REPORT_CRON. */
  readonly cron: string;
  /** The report's name: `reports.<name>`, its file names. Default "pipeline". */
  readonly name?: string;
  /** How long after its period's end a report reads the figures; default DEFAULT_SETTLE_MS (60 s). */
  readonly settleMs?: number;
}

/**
 * The scheduled report as a job: each scheduled time reports the period since the one before it
 * (a manual `sluice jobs run report`: since the last scheduled time), so the jobs scheduler's lease
 * on the scheduled time keeps each period to one instance. Throws ReportScheduleError on a bad cron.
 */
export function reportJob(settings: ReportJobSettings): JobDefinition<JobDeps> {
  const name = settings.name ?? "pipeline";
  const periodOf = reportPeriods(settings.cron);
  const settleMs = settings.settleMs;
  return {
    name: "report",
    description: `the ${name} report of the period since the scheduled time before (HTML, PDF and entry JSON in the state dir's reports and the lake's reports/date=…; announced on reports.${name})`,
    schedule: settings.cron,
    // The settle wait, a PDF through chromium, and room to spare.
    timeoutMs: (settleMs ?? DEFAULT_SETTLE_MS) + 10 * 60_000,
    retry: { attempts: 3, firstDelayMs: 30_000, maxDelayMs: 5 * 60_000 },
    async run({ client, lake, reports }, ctx) {
      if (!reports) throw new ReportDepsMissingError(ctx.job);
      const store = await lake();
      const { entry, lakeKeys } = await produceReport({
        name, period: periodOf(ctx.scheduledAtMs), settleMs, signal: ctx.signal,
        rows: (query) => rows<Record<string, unknown>>(client, query, ctx.signal),
        lag: reports.lag, nc: reports.nc, stateDir: reports.stateDir, formats: reports.formats, chromiumPath: reports.chromiumPath,
        lake: (key, body) => store.putObject(key, body),
      });
      return `${entry.from} – ${entry.to}: ${entry.events} events, ${entry.dead_letters} dead letters, ${entry.anomalies} anomalies; ${entry.files.length} files${entry.pdf_error ? ` (${entry.pdf_error})` : ""}, ${lakeKeys.length} in the lake at ${store.location.url}`;
    },
  };
}

/** The jobs that always ship. */
export const SHIPPED_JOBS: readonly JobDefinition<JobDeps>[] = [lakeCompact, rollupDaily, retention];

/** Every job sluice ships, by name: the report's too when SLUICE_REPORT_CRON is set. */
export function shippedJobs(report?: ReportJobSettings): readonly JobDefinition<JobDeps>[] {
  return report ? [...SHIPPED_JOBS, reportJob(report)] : SHIPPED_JOBS;
}
