import type { ClickHouseClient } from "@clickhouse/client";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JOB_TABLES } from "../clickhouse/schema.ts";
import type { AnomalyRecord } from "../clickhouse/rows-detect.ts";
import { INSTANCE_ID } from "../nats/connect.ts";
import { withDeadline } from "../nats/deadline.ts";
import { subject } from "../subjects/catalog.ts";
import { countAttempt, countGaveUp } from "./metrics.ts";
import type { AttemptRecord, RunSinks } from "./run.ts";

/** `YYYY-MM-DD hh:mm:ss`, which DateTime columns take on 18.16 and on chDB alike. */
const dateTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");

/** An attempt as its sluice.job_runs row. */
export function jobRunRow(r: AttemptRecord): Record<string, string | number> {
  return {
    job: r.job,
    run_id: r.runId,
    scheduled_at: dateTime(r.scheduledAtMs),
    trigger: r.trigger,
    attempt: r.attempt,
    started_at: dateTime(r.startedAtMs),
    ended_at: dateTime(r.endedAtMs),
    duration_ms: Math.max(0, r.endedAtMs - r.startedAtMs),
    outcome: r.outcome,
    error: r.error,
    detail: r.detail,
    instance: INSTANCE_ID,
  };
}

/** The severity of a job's alert: a run that gave up needs a person. */
export const JOB_ALERT_SEVERITY = "high";

/**
 * A run that gave up, as an alert in the anomalies' shape (source `jobs`, key the job), so
 * `clickhouse-sink-anomalies` stores it in sluice.anomalies and the dashboard shows it.
 */
export function jobAlert(last: AttemptRecord): AnomalyRecord & { trace_id: string } {
  return {
    event_id: last.runId,
    source: "jobs",
    key: last.job,
    metric: "job_run",
    score: 1,
    severity: JOB_ALERT_SEVERITY,
    signal: last.outcome === "sensor_timeout" ? "job_sensor_timeout" : "job_failed",
    explanation: { error: last.error, attempts: last.attempt, outcome: last.outcome, scheduled_at: new Date(last.scheduledAtMs).toISOString() },
    expected_low: 0,
    expected_high: 0,
    observed: last.attempt,
    event_time: last.scheduledAtMs,
    detected_at: last.endedAtMs,
    trace_id: "",
  };
}

/** Attempts to sluice.job_runs and the metrics; a run that gave up to `alerts.jobs.<severity>`. */
export function clickhouseSinks(client: ClickHouseClient, nc: NatsConnection): RunSinks {
  return {
    async record(r) {
      countAttempt(r.job, r.outcome, r.endedAtMs);
      await client.insert({ table: JOB_TABLES.job_runs, values: [jobRunRow(r)], format: "JSONEachRow" });
    },
    async gaveUp(last) {
      countGaveUp(last.job);
      const alert = jobAlert(last);
      await withDeadline(() => jetstream(nc).publish(subject.jobAlerts(JOB_ALERT_SEVERITY), JSON.stringify(alert), { msgID: `job-alert:${last.runId}` }), { what: `publish the alert of job ${last.job}` });
    },
  };
}
