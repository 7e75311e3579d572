import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { basename, extname, join } from "node:path";
import { readFile } from "node:fs/promises";
import { Cron } from "croner";
import type { Period } from "../clickhouse/queries.ts";
import { withDeadline } from "../nats/deadline.ts";
import { gatherReport, type ReportLag, type ReportRows } from "./data.ts";
import { announceReport, reportsDir, writeReport, type ReportEntry, type ReportFormat } from "./store.ts";

/**
 * How long after the period's end the figures are read, so rows still on their way to
 * ClickHouse (sink batches) are counted in the period they belong to.
 */
export const DEFAULT_SETTLE_MS = 60_000;

/** SLUICE_REPORT_CRON is not a cron expression croner accepts. */
export class ReportScheduleError extends Error {
  constructor(expression: string, cause: unknown) {
    super(`SLUICE_REPORT_CRON=${JSON.stringify(expression)} is not a cron expression: ${(cause as Error).message}; e.g. "0 6 * * *" (06:00 UTC daily) or "*/30 * * * * *" (seconds first)`, { cause });
    this.name = "ReportScheduleError";
  }
}

/**
 * The period [from, to) the run of `expression` (UTC) at `runAtMs` covers: from the scheduled
 * time before it, so the periods of a schedule follow each other without gap or overlap.
 */
export function reportPeriods(expression: string): (runAtMs: number) => Period {
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone: "UTC", paused: true });
  } catch (err) {
    throw new ReportScheduleError(expression, err);
  }
  return (runAtMs) => {
    const toMs = Math.floor(runAtMs / 1000) * 1000;
    const [previous] = cron.previousRuns(1, new Date(toMs - 1000));
    return { fromMs: previous ? previous.getTime() : toMs - 86_400_000, toMs };
  };
}

/** Where a report's files go besides the state dir: `put(key, bytes)` below the lake's root. */
export type PutObject = (key: string, body: Buffer) => Promise<void>;

/** The lake keys of a report's files: `reports/date=<day of the period's end>/<file name>`. */
const lakeKeyOf = (entry: ReportEntry, file: string): string => `reports/date=${entry.to.slice(0, 10)}/${basename(file)}`;

export interface ProduceOptions {
  readonly name: string;
  readonly period: Period;
  readonly rows: ReportRows;
  readonly lag?: () => Promise<ReportLag[]>;
  readonly nc: NatsConnection;
  readonly stateDir: string;
  readonly formats?: readonly ReportFormat[];
  readonly chromiumPath?: string;
  readonly settleMs?: number;
  readonly lake?: PutObject;
  readonly signal?: AbortSignal;
}

/**
 * One scheduled report of one period: waits until the period's end plus the settle time (a
 * retry that comes later waits no more), writes HTML/PDF and the entry JSON to `<state
 * dir>/reports`, puts the same files in the lake, and announces it on `reports.<name>`.
 * Idempotent: a repeat of the period rewrites the same files under the same names.
 */
export async function produceReport(opts: ProduceOptions): Promise<{ entry: ReportEntry; lakeKeys: string[] }> {
  const wait = opts.period.toMs + (opts.settleMs ?? DEFAULT_SETTLE_MS) - Date.now();
  if (wait > 0) await sleep(wait, undefined, { signal: opts.signal });
  const data = await gatherReport({ name: opts.name, rows: opts.rows, period: opts.period, lag: opts.lag });
  // Stopped or timed out while reading: the run is recorded as failed, so it writes nothing either.
  opts.signal?.throwIfAborted();
  const dir = reportsDir(opts.stateDir);
  const entry = await writeReport(data, { dir, formats: opts.formats, chromiumPath: opts.chromiumPath });
  const lakeKeys: string[] = [];
  if (opts.lake) {
    // The entry JSON last: a listing of the lake that finds it finds the report's files too.
    const first = entry.files[0];
    const json = first ? join(dir, `${basename(first, extname(first))}.json`) : undefined;
    for (const file of [...entry.files, ...(json ? [json] : [])]) {
      const key = lakeKeyOf(entry, file);
      await opts.lake(key, await readFile(file));
      lakeKeys.push(key);
    }
  }
  // Not cut short by the signal: once written, a report is announced (a flush, under its deadline).
  await withDeadline(announceReport(opts.nc, entry), { what: `publish ${opts.name} report` });
  return { entry, lakeKeys };
}
