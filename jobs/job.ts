import type { Logger } from "../otel/log.ts";

/** What a sensor saw: true once the job may run; `detail` says why not yet (or what it saw). */
export interface SensorReading {
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * A condition a job waits on before it runs (e.g. "every source's watermark passed the end of the
 * day"), checked every `everyMs` until true or `timeoutMs` has passed.
 */
export interface Sensor<D> {
  readonly name: string;
  readonly everyMs: number;
  readonly timeoutMs: number;
  check(deps: D, run: RunInfo): Promise<SensorReading>;
}

export interface Retry {
  /** Attempts in all, the first one included. */
  readonly attempts: number;
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
}

/** The run an attempt belongs to. */
export interface RunInfo {
  readonly job: string;
  /** The schedule's time this run is for (a manual run: when it was asked for), epoch ms. */
  readonly scheduledAtMs: number;
  readonly trigger: "schedule" | "manual";
}

export interface AttemptContext extends RunInfo {
  readonly attempt: number;
  /** Aborts at the job's timeout or at shutdown: the job must stop its work. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/**
 * A scheduled job: plain data plus one function, run by jobs/run.ts (retries, timeout, sensor,
 * one row per attempt in sluice.job_runs) on a cron schedule by jobs/scheduler.ts.
 *
 * @example
 * const hello: JobDefinition<{ client: ClickHouseClient }> = {
 *   name: "hello", schedule: "0 * * * *", timeoutMs: 60_000,
 *   retry: { attempts: 3, firstDelayMs: 1_000, maxDelayMs: 60_000 },
 *   async run({ client }, ctx) { await client.command({ query: "SELECT 1", abort_signal: ctx.signal }); return "ok"; },
 * };
 */
export interface JobDefinition<D> {
  readonly name: string;
  readonly description: string;
  /** Cron expression, UTC (croner syntax: 5 fields, or 6 with seconds first). */
  readonly schedule: string;
  readonly timeoutMs: number;
  readonly retry: Retry;
  readonly sensor?: Sensor<D>;
  /** Does the work; the text it returns is kept with the run (`detail`). Must be idempotent: a retry repeats it. */
  run(deps: D, ctx: AttemptContext): Promise<string | void>;
}

/** The wait before attempt `attempt + 1` (attempts count from 1): doubling from `firstDelayMs`, capped. */
export function backoffMs(retry: Retry, attempt: number): number {
  return Math.min(retry.maxDelayMs, retry.firstDelayMs * 2 ** Math.max(0, attempt - 1));
}
