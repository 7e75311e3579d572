import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import { Cron } from "croner";
import { withDeadline } from "../nats/deadline.ts";
import { INSTANCE_ID } from "../nats/connect.ts";
import type { Logger } from "../otel/log.ts";
import { gatherReport, type ReportLag, type ReportRows } from "./data.ts";
import { announceReport, reportsDir, writeReport, type ReportEntry, type ReportFormat } from "./store.ts";

/** The bucket whose keys say which instance wrote the report of which period. */
export const REPORT_LEASES = "sluice-report-leases";
/** A period's key outlives any schedule's period by far; then the bucket forgets it. */
const LEASE_TTL_MS = 35 * 24 * 3_600_000;
const DEFAULT_SETTLE_MS = 60_000;

/** SLUICE_REPORT_CRON is not a cron expression croner accepts. */
export class ReportScheduleError extends Error {
  constructor(expression: string, cause: unknown) {
    super(`SLUICE_REPORT_CRON=${JSON.stringify(expression)} is not a cron expression: ${(cause as Error).message}; e.g. "0 6 * * *" (06:00 UTC daily) or "*/30 * * * * *" (seconds first)`, { cause });
    this.name = "ReportScheduleError";
  }
}

export interface ReportScheduleOptions {
  readonly cron: string;
  readonly name?: string;
  readonly nc: NatsConnection;
  readonly rows: ReportRows;
  readonly lag?: () => Promise<ReportLag[]>;
  readonly stateDir: string;
  readonly formats?: readonly ReportFormat[];
  readonly chromiumPath?: string;
  readonly log: Logger;
  /**
   * How long after the period's end the figures are read, so rows still on their way to
   * ClickHouse (sink batches) are counted in the period they belong to. Default 60 s.
   */
  readonly settleMs?: number;
  /** Called after each report this instance wrote (tests, the dashboard's list). */
  readonly onReport?: (entry: ReportEntry) => void;
}

export interface ReportSchedule {
  /** The period [from, to) the run at `runAt` covers: from the run before it. */
  periodOf(runAtMs: number): { fromMs: number; toMs: number };
  stop(): Promise<void>;
}

function isTaken(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/**
 * Runs the report on a cron schedule (UTC). Each run covers the time since the run before it.
 * Of the instances with the same schedule, the first to create the period's key in
 * {@link REPORT_LEASES} writes the report and announces it; the others skip the period, so a
 * period is reported at most once however many processes own ClickHouse.
 */
export function startReportSchedule(opts: ReportScheduleOptions): ReportSchedule {
  const name = opts.name ?? "pipeline";
  let kv: Promise<KV> | undefined;
  const leases = () => (kv ??= withDeadline(() => new Kvm(opts.nc).create(REPORT_LEASES, { ttl: LEASE_TTL_MS, history: 1 }), { what: `kv ${REPORT_LEASES} open` }));
  // Runs may overlap (a slow PDF, a long settle): each is awaited at stop, none is skipped.
  const running = new Set<Promise<void>>();
  const stopping = new AbortController();
  let cron: Cron;
  const periodOf = (runAtMs: number) => {
    const toMs = Math.floor(runAtMs / 1000) * 1000;
    const [previous] = cron.previousRuns(1, new Date(toMs - 1000));
    return { fromMs: previous ? previous.getTime() : toMs - 86_400_000, toMs };
  };
  const run = async (runAtMs: number) => {
    const period = periodOf(runAtMs);
    const key = `${name}.${period.toMs / 1000}`;
    try {
      const bucket = await leases();
      await withDeadline(() => bucket.create(key, INSTANCE_ID), { what: `kv ${REPORT_LEASES} create ${key}` });
    } catch (err) {
      if (isTaken(err)) {
        opts.log.debug(`report ${name}: the period to ${new Date(period.toMs).toISOString()} is another instance's`);
        return;
      }
      throw err;
    }
    await sleep(opts.settleMs ?? DEFAULT_SETTLE_MS, undefined, { signal: stopping.signal });
    const data = await gatherReport({ name, rows: opts.rows, period, lag: opts.lag });
    const entry = await writeReport(data, { dir: reportsDir(opts.stateDir), formats: opts.formats, chromiumPath: opts.chromiumPath });
    await withDeadline(announceReport(opts.nc, entry), { what: `publish ${name} report` });
    opts.log.info(`report ${name}: ${entry.files.join(", ")}`);
    opts.onReport?.(entry);
  };
  try {
    cron = new Cron(opts.cron, { timezone: "UTC" }, (self: Cron) => {
      const at = self.currentRun()?.getTime() ?? Date.now();
      const done = run(at).catch((err: Error) => {
        if (!stopping.signal.aborted) opts.log.error(`report ${name}: ${err.message}`);
      });
      running.add(done);
      void done.finally(() => running.delete(done));
    });
  } catch (err) {
    throw new ReportScheduleError(opts.cron, err);
  }
  return {
    periodOf,
    async stop() {
      cron.stop();
      stopping.abort();
      await Promise.all(running);
    },
  };
}
