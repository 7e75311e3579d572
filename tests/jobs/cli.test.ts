// `sluice jobs` against a running pipeline process (embedded ClickHouse, real nats-server): a
// manual run goes to the process that owns ClickHouse and is recorded in sluice.job_runs; and a
// job's alert is stored by the anomalies sink like any other, under source "jobs".
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { jobAlert } from "../../jobs/index.ts";
import { subject } from "../../subjects/catalog.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";

const test = suite("sluice jobs: run, history, ls; job alerts in sluice.anomalies");
const ctx = {} as { nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline };

test.before(async () => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { actors: ["clickhouse-sink-anomalies"], env: { SLUICE_SINK_BATCH_MS: "100" } });
});

test.after(async () => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
});

async function sluice(...args: string[]): Promise<{ code: number | null; output: string }> {
  const p = SluiceProcess.start(args, { NATS_URL: ctx.nats.url, SLUICE_STATE_DIR: ctx.pipeline.stateDir });
  const code = await new Promise<number | null>((resolve) => p.child.once("exit", resolve));
  return { code, output: p.output };
}

test("jobs run lake-compact runs in the pipeline's process; history and ls show it", async () => {
  const ran = await sluice("jobs", "run", "lake-compact");
  assert.is(ran.code, 0, ran.output);
  assert.match(ran.output, /^lake-compact: ok after 1 attempt\(s\): 0 partition-hours merged, 0 files removed$/m);
  assert.is(await ctx.pipeline.scalar("SELECT count() FROM sluice.job_runs WHERE job = 'lake-compact' AND outcome = 'ok' AND trigger = 'manual'"), 1);
  const history = await sluice("jobs", "history", "lake-compact", "--format", "json");
  assert.is(history.code, 0, history.output);
  const rows = JSON.parse(history.output) as Array<Record<string, unknown>>;
  assert.is(rows.length, 1);
  assert.is(rows[0].outcome, "ok");
  const ls = await sluice("jobs", "ls");
  assert.match(ls.output, /lake-compact\s+15 \* \* \* \*\s+\S+\s+ok/);
  const unknown = await sluice("jobs", "run", "nope");
  assert.is(unknown.code, 2);
  assert.match(unknown.output, /no job "nope"; jobs: lake-compact, rollup-daily, retention/);
});

test("a job's alert on alerts.jobs.high lands in sluice.anomalies", async () => {
  const alert = jobAlert({ job: "rollup-daily", runId: "rollup-daily-1-abc", scheduledAtMs: Date.UTC(2026, 11, 1), trigger: "schedule", attempt: 4, startedAtMs: Date.now() - 10, endedAtMs: Date.now(), outcome: "failed", error: "table is gone", detail: "" });
  await jetstream(ctx.nc).publish(subject.jobAlerts("high"), JSON.stringify(alert), { msgID: "job-alert:test" });
  const n = await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.anomalies WHERE source = 'jobs' AND key = 'rollup-daily' AND signal = 'job_failed'"), (v) => v === 1, 20_000);
  assert.is(n, 1);
  assert.is(await ctx.pipeline.scalar("SELECT countIf(position(explanation, 'table is gone') > 0) FROM sluice.anomalies WHERE source = 'jobs'"), 1);
});

test.run();
