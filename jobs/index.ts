/**
 * Scheduled jobs: definitions (job.ts), one run with its sensor, retries and timeout (run.ts),
 * the cron scheduler with a KV lease per scheduled time (scheduler.ts), and the jobs sluice ships.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../otel/log.ts";
import { subject } from "../subjects/catalog.ts";
import { runJob, type AttemptRecord } from "./run.ts";
import { startJobScheduler, type JobScheduler } from "./scheduler.ts";
import { clickhouseSinks } from "./sinks.ts";
import { shippedJobs, type JobDeps, type ReportJobSettings } from "./shipped.ts";
// The lag the API shows, read where the actors run: their consumer positions are in this process.
import { consumerLag } from "../otel/lag.ts";

export { backoffMs, type JobDefinition, type Sensor, type SensorReading, type Retry, type RunInfo, type AttemptContext } from "./job.ts";
export { runJob, OUTCOMES, JobTimeoutError, SensorTimeoutError, type AttemptRecord, type Outcome, type RunSinks } from "./run.ts";
export { startJobScheduler, JOB_LEASES, JobScheduleError, type JobScheduler } from "./scheduler.ts";
export { clickhouseSinks, jobRunRow, jobAlert } from "./sinks.ts";
export { jobMetricsText } from "./metrics.ts";
export { SHIPPED_JOBS, shippedJobs, reportJob, ReportDepsMissingError, lakeCompact, rollupDaily, retention, watermarksPastDay, dayBefore, type JobDeps, type ReportDeps, type ReportJobSettings } from "./shipped.ts";

/** A `sluice.rpc.jobs.run` request and its answer. */
export interface RunRequest {
  readonly job: string;
}
export type RunReply = { readonly ok: true; readonly last: AttemptRecord } | { readonly ok: false; readonly error: string };

export interface RunningJobs {
  readonly scheduler: JobScheduler;
  stop(): Promise<void>;
}

/**
 * The shipped jobs on their schedules in this process (the one that owns ClickHouse), and the
 * `sluice.rpc.jobs.run` service that runs one now for `sluice jobs run`. With `report`
 * (SLUICE_REPORT_CRON) the scheduled report is one of them, written under `report.stateDir`.
 */
export function startShippedJobs(opts: { readonly nc: NatsConnection; readonly deps: JobDeps; readonly log: Logger; readonly report?: ReportJobSettings & { readonly stateDir: string } }): RunningJobs {
  const jobs = shippedJobs(opts.report);
  const deps: JobDeps = opts.report ? { ...opts.deps, reports: { nc: opts.nc, stateDir: opts.report.stateDir, formats: ["html", "pdf"], lag: consumerLag(opts.nc) } } : opts.deps;
  const sinks = clickhouseSinks(deps.client, opts.nc);
  const scheduler = startJobScheduler({ jobs, deps, nc: opts.nc, sinks, log: opts.log });
  const stopping = new AbortController();
  const manual = new Set<Promise<unknown>>();
  const sub = opts.nc.subscribe(subject.jobsService(), {
    callback: (err, msg) => {
      if (err) return;
      const reply = (answer: RunReply) => msg.respond(JSON.stringify(answer));
      let request: RunRequest;
      try {
        request = JSON.parse(msg.string()) as RunRequest;
      } catch {
        reply({ ok: false, error: "the request is not JSON: expected {\"job\": \"<name>\"}" });
        return;
      }
      const job = jobs.find((j) => j.name === request.job);
      if (!job) {
        reply({ ok: false, error: `no job ${JSON.stringify(request.job)}; jobs: ${jobs.map((j) => j.name).join(", ")}` });
        return;
      }
      const done = runJob(job, { job: job.name, scheduledAtMs: Date.now(), trigger: "manual" }, { deps, sinks, log: opts.log, signal: stopping.signal })
        .then((last) => reply({ ok: true, last }), (e: Error) => reply({ ok: false, error: e.message }));
      manual.add(done);
      void done.finally(() => manual.delete(done));
    },
  });
  return {
    scheduler,
    async stop() {
      sub.unsubscribe();
      stopping.abort();
      await scheduler.stop();
      await Promise.all(manual);
    },
  };
}
