import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../otel/log.ts";
import { backoffMs, type JobDefinition, type RunInfo } from "./job.ts";

/** How an attempt ended. `sensor_timeout`: the sensor never became true, the job did not run. */
export const OUTCOMES = ["ok", "failed", "timeout", "sensor_timeout"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** One attempt, as a sluice.job_runs row (times epoch ms). */
export interface AttemptRecord extends RunInfo {
  readonly runId: string;
  readonly attempt: number;
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  readonly outcome: Outcome;
  readonly error: string;
  readonly detail: string;
}

/** Where attempts are recorded and where a run that gave up is announced. */
export interface RunSinks {
  record(attempt: AttemptRecord): Promise<void>;
  /** Every attempt failed (or the sensor timed out): raise an alert. */
  gaveUp(last: AttemptRecord): Promise<void>;
}

export class JobTimeoutError extends Error {
  constructor(job: string, timeoutMs: number) {
    super(`job ${job} did not finish within its timeout of ${timeoutMs} ms`);
    this.name = "JobTimeoutError";
  }
}

export class SensorTimeoutError extends Error {
  constructor(job: string, sensor: string, timeoutMs: number, detail: string) {
    super(`job ${job}: sensor ${sensor} was not true after ${timeoutMs} ms (last check: ${detail})`);
    this.name = "SensorTimeoutError";
  }
}

export interface RunOptions<D> {
  readonly deps: D;
  readonly sinks: RunSinks;
  readonly log: Logger;
  /** Shutdown: no further attempt starts, the one in hand is aborted. */
  readonly signal?: AbortSignal;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Runs one scheduled (or manual) run of a job: wait for its sensor, then attempt it up to
 * `retry.attempts` times with exponential backoff between attempts, each attempt aborted at the
 * job's timeout, every attempt recorded. Returns the last attempt; a run that never succeeded is
 * announced through `sinks.gaveUp`.
 */
export async function runJob<D>(job: JobDefinition<D>, run: RunInfo, opts: RunOptions<D>): Promise<AttemptRecord> {
  const runId = `${job.name}-${run.scheduledAtMs}-${randomBytes(3).toString("hex")}`;
  const base = { ...run, runId };
  if (job.sensor) {
    const sensor = job.sensor;
    const started = Date.now();
    let detail = "not checked yet";
    for (;;) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("stopped");
      try {
        const reading = await sensor.check(opts.deps, run);
        detail = reading.detail;
        if (reading.ok) break;
      } catch (err) {
        detail = `check failed: ${message(err)}`;
      }
      if (Date.now() - started + sensor.everyMs > sensor.timeoutMs) {
        const record: AttemptRecord = { ...base, attempt: 0, startedAtMs: started, endedAtMs: Date.now(), outcome: "sensor_timeout", error: new SensorTimeoutError(job.name, sensor.name, sensor.timeoutMs, detail).message, detail };
        await opts.sinks.record(record);
        await opts.sinks.gaveUp(record);
        return record;
      }
      await sleep(sensor.everyMs, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }
  let last: AttemptRecord | undefined;
  for (let attempt = 1; attempt <= job.retry.attempts; attempt++) {
    if (opts.signal?.aborted) break;
    const timeout = AbortSignal.timeout(job.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const startedAtMs = Date.now();
    let outcome: Outcome = "ok";
    let error = "";
    let detail = "";
    try {
      const work = job.run(opts.deps, { ...run, attempt, signal, log: opts.log });
      const timedOut = new Promise<never>((_, reject) => {
        const onAbort = () => reject(timeout.aborted ? new JobTimeoutError(job.name, job.timeoutMs) : (opts.signal?.reason ?? new Error("stopped")));
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      });
      // The timeout may fire after the work is done: nobody waits on it then.
      timedOut.catch(() => undefined);
      detail = (await Promise.race([work, timedOut])) ?? "";
    } catch (err) {
      // A job that ends its work when the signal aborts may reject before the race sees the timeout.
      outcome = timeout.aborted ? "timeout" : "failed";
      error = timeout.aborted ? new JobTimeoutError(job.name, job.timeoutMs).message : message(err);
    }
    last = { ...base, attempt, startedAtMs, endedAtMs: Date.now(), outcome, error, detail };
    await opts.sinks.record(last);
    if (outcome === "ok") return last;
    opts.log.warn(`job ${job.name}: attempt ${attempt}/${job.retry.attempts} ${outcome}: ${error}`);
    if (attempt < job.retry.attempts) await sleep(backoffMs(job.retry, attempt), undefined, { signal: opts.signal }).catch(() => undefined);
  }
  if (!last) throw new Error(`job ${job.name}: stopped before its first attempt`);
  await opts.sinks.gaveUp(last);
  return last;
}
