import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Cron } from "croner";
import { INSTANCE_ID } from "../nats/connect.ts";
import { withDeadline } from "../nats/deadline.ts";
import type { Logger } from "../otel/log.ts";
import type { JobDefinition } from "./job.ts";
import { runJob, type AttemptRecord, type RunSinks } from "./run.ts";

/** The bucket whose keys say which instance runs which job's scheduled time. */
export const JOB_LEASES = "sluice-job-leases";
/** A run's key outlives any retry chain by far; then the bucket forgets it. */
export const JOB_LEASE_TTL_MS = 7 * 24 * 3_600_000;

export class JobScheduleError extends Error {
  constructor(job: string, expression: string, cause: unknown) {
    super(`job ${job}: schedule ${JSON.stringify(expression)} is not a cron expression: ${(cause as Error).message}; e.g. "0 2 * * *" (02:00 UTC daily)`, { cause });
    this.name = "JobScheduleError";
  }
}

function isTaken(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

export interface SchedulerOptions<D> {
  readonly jobs: readonly JobDefinition<D>[];
  readonly deps: D;
  readonly nc: NatsConnection;
  readonly sinks: RunSinks;
  readonly log: Logger;
  /** Called after each run this instance did (tests). */
  readonly onRun?: (last: AttemptRecord) => void;
}

export interface JobScheduler {
  /** Next scheduled time of each job, epoch ms. */
  next(): Record<string, number | undefined>;
  stop(): Promise<void>;
}

/**
 * Runs each job on its cron schedule (UTC). Of the instances with the same jobs, the first to
 * create the run's key (`<job>.<scheduled unix seconds>`) in {@link JOB_LEASES} runs it; the others
 * skip that time, so each scheduled time runs at most once across instances. A run still going
 * when its next time comes keeps going; the next one starts too (they hold different keys).
 */
export function startJobScheduler<D>(opts: SchedulerOptions<D>): JobScheduler {
  let kv: Promise<KV> | undefined;
  const leases = () => (kv ??= withDeadline(() => new Kvm(opts.nc).create(JOB_LEASES, { ttl: JOB_LEASE_TTL_MS, history: 1 }), { what: `kv ${JOB_LEASES} open` }));
  const stopping = new AbortController();
  const running = new Set<Promise<void>>();
  const crons = new Map<string, Cron>();

  const tick = async (job: JobDefinition<D>, scheduledAtMs: number) => {
    const key = `${job.name}.${Math.floor(scheduledAtMs / 1000)}`;
    try {
      const bucket = await leases();
      await withDeadline(() => bucket.create(key, INSTANCE_ID), { what: `kv ${JOB_LEASES} create ${key}`, signal: stopping.signal });
    } catch (err) {
      if (isTaken(err)) {
        opts.log.debug(`job ${job.name}: ${new Date(scheduledAtMs).toISOString()} is another instance's`);
        return;
      }
      throw err;
    }
    const last = await runJob(job, { job: job.name, scheduledAtMs, trigger: "schedule" }, { deps: opts.deps, sinks: opts.sinks, log: opts.log, signal: stopping.signal });
    opts.onRun?.(last);
  };

  for (const job of opts.jobs) {
    try {
      crons.set(job.name, new Cron(job.schedule, { timezone: "UTC", protect: false }, (self: Cron) => {
        const at = self.currentRun()?.getTime() ?? Date.now();
        const done = tick(job, at).catch((err: Error) => {
          if (!stopping.signal.aborted) opts.log.error(`job ${job.name}: ${err.message}`);
        });
        running.add(done);
        void done.finally(() => running.delete(done));
      }));
    } catch (err) {
      for (const c of crons.values()) c.stop();
      throw new JobScheduleError(job.name, job.schedule, err);
    }
  }
  return {
    next: () => Object.fromEntries([...crons].map(([name, c]) => [name, c.nextRun()?.getTime()])),
    async stop() {
      for (const c of crons.values()) c.stop();
      stopping.abort();
      await Promise.all(running);
    },
  };
}
