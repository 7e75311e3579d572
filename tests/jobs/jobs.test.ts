// Scheduled jobs against real parts: nats-server (KV leases, ALERTS) and chDB (sluice.job_runs).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { migrate, probeCapabilities } from "../../clickhouse/index.ts";
import { JOB_TABLES } from "../../clickhouse/schema.ts";
import { clickhouseSinks } from "../../jobs/sinks.ts";
import { jobMetricsText } from "../../jobs/metrics.ts";
import { runJob, type AttemptRecord } from "../../jobs/run.ts";
import { startJobScheduler } from "../../jobs/scheduler.ts";
import type { JobDefinition } from "../../jobs/job.ts";
import { openMemoryEngine, type LakeEngine } from "../../lake/index.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { waitFor } from "../harness/wait.ts";
import { readStream } from "../lake/env.ts";

const test = suite("jobs: retries, timeouts, sensors, job_runs, alerts, one run per schedule");
const ctx = {} as { nats: NatsServer; nc: NatsConnection; engine: LakeEngine };
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

test.before(async () => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  await ensureStreams(await jetstreamManager(ctx.nc));
  ctx.engine = await openMemoryEngine();
  await migrate(ctx.engine.client, await probeCapabilities(ctx.engine.client, { info: () => undefined, warn: () => undefined }));
});

test.after(async () => {
  await ctx.engine?.close();
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

type Deps = Record<string, never>;
const job = (name: string, run: JobDefinition<Deps>["run"], extra: Partial<JobDefinition<Deps>> = {}): JobDefinition<Deps> => ({
  name, description: name, schedule: "0 0 * * *", timeoutMs: 5_000, retry: { attempts: 3, firstDelayMs: 50, maxDelayMs: 200 }, run, ...extra,
});
const sinks = () => clickhouseSinks(ctx.engine.client, ctx.nc);
const runs = async (name: string) => (await (await ctx.engine.client.query({
  query: `SELECT attempt, outcome, error, trigger FROM ${JOB_TABLES.job_runs} WHERE job = '${name}' ORDER BY attempt`, format: "JSONEachRow",
})).json()) as Array<{ attempt: number; outcome: string; error: string; trigger: string }>;
const alertsFor = async (name: string) => (await readStream(ctx.nc, "ALERTS")).filter((m) => JSON.parse(new TextDecoder().decode(m.data)).key === name);

test("a job that fails twice then succeeds shows three attempts in sluice.job_runs", async () => {
  let calls = 0;
  const flaky = job("flaky", async () => {
    calls++;
    if (calls < 3) throw new Error(`transient failure ${calls}`);
    return "done";
  });
  const last = await runJob(flaky, { job: "flaky", scheduledAtMs: Date.now(), trigger: "manual" }, { deps: {}, sinks: sinks(), log: quiet });
  assert.is(last.outcome, "ok");
  assert.equal((await runs("flaky")).map((r) => [r.attempt, r.outcome, r.error]), [
    [1, "failed", "transient failure 1"],
    [2, "failed", "transient failure 2"],
    [3, "ok", ""],
  ]);
  assert.equal(await alertsFor("flaky"), [], "a run that succeeded raises no alert");
  const metrics = jobMetricsText();
  assert.match(metrics, /^sluice_job_attempts_total\{job="flaky",outcome="failed"\} 2$/m);
  assert.match(metrics, /^sluice_job_attempts_total\{job="flaky",outcome="ok"\} 1$/m);
  assert.match(metrics, /^sluice_job_last_success_seconds\{job="flaky"\} \d{10}$/m);
});

test("a sensor that never becomes true times out with a clear reason, and the job does not run", async () => {
  let ran = false;
  const waiting = job("waits", async () => void (ran = true), {
    sensor: { name: "watermarks", everyMs: 100, timeoutMs: 600, check: async () => ({ ok: false, detail: "iot watermark at 2026-12-01T09:59:00Z, wanted 10:00" }) },
  });
  const last = await runJob(waiting, { job: "waits", scheduledAtMs: Date.now(), trigger: "manual" }, { deps: {}, sinks: sinks(), log: quiet });
  assert.not.ok(ran);
  assert.is(last.outcome, "sensor_timeout");
  const [row] = await runs("waits");
  assert.is(row.outcome, "sensor_timeout");
  assert.is(row.error, "job waits: sensor watermarks was not true after 600 ms (last check: iot watermark at 2026-12-01T09:59:00Z, wanted 10:00)");
  const alerts = await waitFor(() => alertsFor("waits"), (a) => a.length === 1, 10_000);
  assert.is(alerts.length, 1);
  assert.is(alerts[0].subject, "alerts.jobs.high");
  assert.is(JSON.parse(new TextDecoder().decode(alerts[0].data)).signal, "job_sensor_timeout");
});

test("a job that keeps failing stops after its attempts and raises one alert; a hung one times out", async () => {
  const broken = job("broken", async () => {
    throw new Error("table is gone");
  });
  await runJob(broken, { job: "broken", scheduledAtMs: Date.now(), trigger: "schedule" }, { deps: {}, sinks: sinks(), log: quiet });
  assert.equal((await runs("broken")).map((r) => r.outcome), ["failed", "failed", "failed"]);
  const alerts = await waitFor(() => alertsFor("broken"), (a) => a.length === 1, 10_000);
  assert.is(alerts.length, 1);
  const alert = JSON.parse(new TextDecoder().decode(alerts[0].data));
  assert.is(alert.explanation.error, "table is gone");
  assert.is(alert.explanation.attempts, 3);

  let aborted = 0;
  const hung = job("hung", (_deps, c) => new Promise((_, reject) => c.signal.addEventListener("abort", () => (aborted++, reject(new Error("aborted"))))), { timeoutMs: 150, retry: { attempts: 2, firstDelayMs: 10, maxDelayMs: 10 } });
  const last = await runJob(hung, { job: "hung", scheduledAtMs: Date.now(), trigger: "manual" }, { deps: {}, sinks: sinks(), log: quiet });
  assert.is(last.outcome, "timeout");
  assert.is(aborted, 2, "each attempt's work saw its signal abort");
  assert.equal((await runs("hung")).map((r) => r.error), ["job hung did not finish within its timeout of 150 ms", "job hung did not finish within its timeout of 150 ms"]);
});

test("two schedulers on one NATS: each scheduled time runs once", async () => {
  const seen: number[] = [];
  const tick = job("tick", async (_d, c) => void seen.push(c.scheduledAtMs), { schedule: "* * * * * *" });
  const done: AttemptRecord[] = [];
  const a = startJobScheduler({ jobs: [tick], deps: {}, nc: ctx.nc, sinks: sinks(), log: quiet, onRun: (r) => done.push(r) });
  const other = await connect({ servers: ctx.nats.url });
  const b = startJobScheduler({ jobs: [tick], deps: {}, nc: other, sinks: sinks(), log: quiet, onRun: (r) => done.push(r) });
  await waitFor(async () => seen.length, (n) => n >= 4, 15_000, 50);
  await a.stop();
  await b.stop();
  await other.close();
  assert.ok(seen.length >= 4, `runs: ${seen.length}`);
  assert.is(new Set(seen).size, seen.length, `a scheduled time ran twice: ${seen.join(", ")}`);
});

test.run();
