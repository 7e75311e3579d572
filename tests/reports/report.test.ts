// Reports against a running pipeline: `sluice report` writes HTML and PDF whose figures equal the
// SQL answers for the period; the report job (SLUICE_REPORT_CRON) on the job schedulers of two
// instances writes each period once, to the state dir and the lake, announces it on
// reports.<name>, and its figures equal SQL for that period.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { credentialsEnv } from "../harness/roles.ts";
import { invalidMessages, validReadings, watermarkFlush } from "../harness/events.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { alertMessage } from "../../actors/detect/index.ts";
import { forecastRow, insertRows } from "../../clickhouse/index.ts";
import { run as report } from "../../cli/report.ts";
import { ReportScheduleError } from "../../reports/schedule.ts";
import { listReports, reportsDir, type ReportEntry } from "../../reports/store.ts";
import { clickhouseSinks, reportJob, shippedJobs, startJobScheduler, type AttemptRecord, type JobDeps, type JobScheduler } from "../../jobs/index.ts";
import { LakeStore, parseLakeUrl } from "../../lake/index.ts";
import { subject } from "../../subjects/catalog.ts";
import { createLogger } from "../../actors/runtime/log.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline; dir: string }>("reports");

const q = async (p: TestPipeline, sql: string) => (await p.clickhouse!.client.query({ query: sql, format: "JSONEachRow" })).json<Record<string, string>>();
const within = (column: string, from: string, to: string) => `${column} >= toDateTime(${Math.floor(Date.parse(from) / 1000)}) AND ${column} < toDateTime(${Math.floor(Date.parse(to) / 1000)})`;

/** The text of one cell of a report table: `<table id=…>` → `<tr data-row=…>` → `<td data-cell=…>`. */
function cell(html: string, table: string, row: string, column: string): string | undefined {
  const t = new RegExp(`<table id="${table}">[\\s\\S]*?</table>`).exec(html)?.[0];
  const r = t && new RegExp(`<tr data-row="${row.replace(/[/.]/g, "\\$&")}">.*?</tr>`).exec(t)?.[0];
  return r ? new RegExp(`<td data-cell="${column}"[^>]*>([^<]*)</td>`).exec(r)?.[1] : undefined;
}
const int = (text: string | undefined) => (text === undefined ? NaN : Number(text.replace(/,/g, "")));

async function publishAnomaly(nc: NatsConnection, p: TestPipeline, scope: string): Promise<void> {
  const [event] = await q(p, "SELECT event_id, key, trace_id, event_time FROM sluice.events FINAL WHERE source = 'iot' ORDER BY event_time DESC LIMIT 1");
  const at = Date.parse(`${event.event_time.replace(" ", "T")}Z`);
  const alert = alertMessage({
    event_id: event.event_id, source: "iot", key: event.key, metric: "temperature", score: 0.8, severity: "high", signal: "level-shift/1",
    explanation: { signal: "level", expected: [19, 23], observed: 40 }, expected_low: 19, expected_high: 23, observed: 40, event_time: at, detected_at: at + 50, trace_id: event.trace_id,
  }, scope);
  await jetstream(nc).publish(alert.subject, alert.data, { msgID: alert.msgId });
}

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { env: { SLUICE_SINK_BATCH_MS: "200" } });
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.dir = mkdtempSync(join(tmpdir(), "sluice-reports-"));
  // Kept after the run, like the browser tests' screenshots: the reports are there to be looked at.
  console.log(`reports: ${ctx.dir}`);
  // Readings of the last minutes across a minute boundary (two windows per sensor), closed by a flush; a few dead letters.
  const base = Math.floor((Date.now() - 4 * 60_000) / 60_000) * 60_000 + 30_000;
  await publishAll(ctx.nc, [...validReadings(200, base), ...invalidMessages(5)]);
  await publishAll(ctx.nc, watermarkFlush(Date.now()));
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.events FINAL WHERE position(payload, 'temperature') > 0"), (n) => n >= 200);
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.dead_letters FINAL"), (n) => n >= 5);
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.window_aggregates FINAL WHERE kind = 'tumbling' AND metric = 'temperature' AND count > 0"), (n) => n > 0);
  await publishAnomaly(ctx.nc, ctx.pipeline, "report-test");
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.anomalies FINAL"), (n) => n >= 1);
  // validate reports a minute's quality counts once stream time passes it, which a burst does not
  // wait for: one report as validate sends it, through DQ and its sink.
  const minute = (Math.floor(Date.now() / 60_000) - 1) * 60_000;
  const report = { report_id: `report-test:iot:temperature_range:${minute}`, minute, source: "iot", expectation: "temperature_range", kind: "range", severity: "warn", evaluated: 200, failed: 9, sample_event_id: "", sample_reason: "out of range", reported_at: Date.now() };
  await jetstream(ctx.nc).publish(subject.dq("iot"), JSON.stringify(report), { msgID: report.report_id });
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.dq_results FINAL"), (n) => n >= 1);
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
});

test("sluice report --since 1h: HTML figures equal SQL (volumes, dead letters, anomalies, forecast accuracy); --out .pdf is a PDF", async ({ nats, pipeline, dir }) => {
  // Forecasts for three closed windows of sensor-1, one of them outside its interval.
  const windows = await q(pipeline, "SELECT window_start, mean FROM sluice.window_aggregates FINAL WHERE kind = 'tumbling' AND key = 'sensor-1' AND metric = 'temperature' AND count > 0 ORDER BY window_start LIMIT 3");
  assert.ok(windows.length >= 2, `closed windows: ${windows.length}`);
  const forecasts = windows.map((w, i) => {
    const target = Date.parse(`${w.window_start.replace(" ", "T")}Z`);
    const realised = Number(w.mean);
    const mean = realised + (i === 0 ? 5 : 0.25);
    return { series: "iot:sensor-1:temperature", source: "iot", key: "sensor-1", metric: "temperature", made_at: target - 60_000, target_time: target, step: 1, mean, lower: mean - 1, upper: mean + 1, level: 0.8, model: "test" };
  });
  await insertRows(pipeline.clickhouse!.client, "forecasts", forecasts.map((f) => forecastRow(f, "", pipeline.clickhouse!.caps)));
  // `sluice report` signs in as its own generated user (the operator).
  const env = { NATS_URL: nats.url, SLUICE_STATE_DIR: pipeline.stateDir, SLUICE_LOG_LEVEL: "warn", ...credentialsEnv(nats) };
  const html = join(dir, "adhoc.html");
  assert.is(await report(["--since", "1h", "--out", html], env), 0);
  const page = readFileSync(html, "utf8");
  const from = /<time id="from">([^<]+)</.exec(page)![1];
  const to = /<time id="to">([^<]+)</.exec(page)![1];
  for (const r of await q(pipeline, `SELECT source, count() AS n FROM sluice.events FINAL WHERE ${within("ingest_time", from, to)} GROUP BY source`)) {
    assert.is(int(cell(page, "volumes", r.source, "events")), Number(r.n), `events of ${r.source}`);
  }
  const reasons = await q(pipeline, `SELECT actor, error_code, count() AS n FROM sluice.dead_letters FINAL WHERE ${within("received_at", from, to)} GROUP BY actor, error_code`);
  assert.ok(reasons.length >= 2);
  for (const r of reasons) assert.is(int(cell(page, "dead-letters", `${r.actor}/${r.error_code}`, "count")), Number(r.n), `${r.actor}/${r.error_code}`);
  const quality = await q(pipeline, `SELECT source, expectation, sum(evaluated) AS e, sum(failed) AS f FROM sluice.dq_results FINAL WHERE ${within("minute", from, to)} GROUP BY source, expectation`);
  assert.ok(quality.length >= 1);
  for (const r of quality) {
    assert.is(int(cell(page, "quality", `${r.source}/${r.expectation}`, "evaluated")), Number(r.e));
    assert.is(cell(page, "quality", `${r.source}/${r.expectation}`, "pass rate"), `${(((Number(r.e) - Number(r.f)) / Number(r.e)) * 100).toFixed(1)}%`);
  }
  const anomalies = await q(pipeline, "SELECT event_id, signal FROM sluice.anomalies FINAL");
  for (const a of anomalies) assert.is(cell(page, "anomalies", a.event_id, "signal"), a.signal);
  assert.match(page, /&quot;signal&quot;:&quot;level&quot;/, "the explanation is in the report");
  // Accuracy computed here from the rows inserted, not by the report's SQL.
  const mae = forecasts.reduce((s, f, i) => s + Math.abs(f.mean - Number(windows[i].mean)), 0) / forecasts.length;
  const coverage = forecasts.filter((f, i) => Number(windows[i].mean) >= f.lower && Number(windows[i].mean) <= f.upper).length / forecasts.length;
  assert.is(cell(page, "forecasts", "iot:sensor-1:temperature", "windows"), String(forecasts.length));
  assert.is(cell(page, "forecasts", "iot:sensor-1:temperature", "MAE"), mae.toFixed(3));
  assert.is(cell(page, "forecasts", "iot:sensor-1:temperature", "coverage"), `${(coverage * 100).toFixed(1)}%`);
  assert.is(cell(page, "lag", "clickhouse-sink-events", "pending"), "0", "lag asked of NATS");
  assert.match(page, /<svg [^>]*aria-label="events per minute"[\s\S]*?<path d="M/, "an inline SVG chart of the volumes");

  const pdf = join(dir, "adhoc.pdf");
  assert.is(await report(["--since", "1h", "--out", pdf], env), 0);
  const bytes = readFileSync(pdf);
  assert.is(bytes.subarray(0, 5).toString(), "%PDF-");
  assert.ok(bytes.length > 5_000, `pdf of ${bytes.length} bytes`);

  // sluice report ls: both, newest first, with their figures.
  const out: string[] = [];
  const log = console.log;
  console.log = (line: string) => void out.push(line);
  try {
    assert.is(await report(["ls", "--format", "json"], env), 0);
  } finally {
    console.log = log;
  }
  const listed = JSON.parse(out.join("\n")) as { rows?: unknown[][] } | Array<Record<string, unknown>>;
  const text = JSON.stringify(listed);
  assert.ok(text.includes(pdf) && text.includes(html), text.slice(0, 300));
});

test("the report job on two instances' job schedulers writes each period once (state dir and lake), announces it, records its runs, and its figures equal SQL for the period", async ({ nats, nc, pipeline, dir }) => {
  const announced: ReportEntry[] = [];
  const sub = nc.subscribe(subject.report("pipeline"), { callback: (_err, m) => void announced.push(m.json<ReportEntry>()) });
  const client = pipeline.clickhouse!.client;
  const lakeRoot = join(dir, "lake");
  const lake = new LakeStore(parseLakeUrl(lakeRoot), client);
  const job = reportJob({ cron: "*/3 * * * * *", settleMs: 1_500 });
  const runs: Array<{ by: string; last: AttemptRecord }> = [];
  const schedulers: JobScheduler[] = [];
  const connections: NatsConnection[] = [];
  const written = () => ["a", "b"].flatMap((by) => listReports(reportsDir(join(dir, by)), 1_000).map((entry) => ({ by, entry })));
  for (const by of ["a", "b"]) {
    const own = await connect({ servers: nats.url });
    connections.push(own);
    const deps: JobDeps = { client, caps: pipeline.clickhouse!.caps, lake: async () => lake, reports: { nc: own, stateDir: join(dir, by) } };
    schedulers.push(startJobScheduler({ jobs: [job], deps, nc: own, sinks: clickhouseSinks(client, own), log: createLogger("error"), onRun: (last) => void runs.push({ by, last }) }));
  }
  try {
    assert.ok(await waitFor(async () => runs.length, (n) => n >= 1, 15_000, 100) >= 1, "a first scheduled report");
    const publishedAt = Date.now();
    await publishAll(nc, [...validReadings(30, Date.now() - 20_000, 3), ...invalidMessages(3)]);
    await waitFor(() => pipeline.scalar(`SELECT count() FROM sluice.events FINAL WHERE ingest_time >= toDateTime(${Math.floor(publishedAt / 1000)})`), (n) => n >= 30, 20_000);
    await waitFor(() => pipeline.scalar(`SELECT count() FROM sluice.dead_letters FINAL WHERE received_at >= toDateTime(${Math.floor(publishedAt / 1000)})`), (n) => n >= 3, 20_000);
    // Reports up to a period that ends after every new event was stored.
    const storedAt = Date.now();
    assert.ok(await waitFor(async () => written().filter((w) => Date.parse(w.entry.to) > storedAt + 3_000).length, (n) => n >= 1, 20_000, 100) >= 1, "a report after the new events");
  } finally {
    for (const s of schedulers) await s.stop();
    for (const c of connections) await c.close();
  }
  const reports = written();
  const periods = reports.map((w) => w.entry.to);
  assert.equal([...new Set(periods)].length, periods.length, `a period written twice: ${periods.join(", ")}`);
  // Each ok run wrote its period's report; a report no ok run claims is one a stop cut short after
  // it was written (the attempt is recorded as failed).
  const runsText = runs.map((r) => `${r.by} ${new Date(r.last.scheduledAtMs).toISOString()} ${r.last.outcome} ${r.last.error}`).join("; ");
  const finished = runs.filter((r) => r.last.outcome === "ok");
  for (const r of finished) assert.ok(reports.some((w) => w.by === r.by && Date.parse(w.entry.to) === Math.floor(r.last.scheduledAtMs / 1000) * 1000), `no report of the ok run ${r.by} ${r.last.scheduledAtMs}: ${runsText}`);
  assert.ok(reports.length <= runs.length, `reports without a run: ${runsText}`);
  const sorted = reports.map((w) => w.entry).sort((a, b) => a.to.localeCompare(b.to));
  for (let i = 1; i < sorted.length; i++) assert.is(sorted[i].from, sorted[i - 1].to, "periods follow each other");
  // Every ok run announced its report; nothing was announced that is not written.
  const okPeriods = finished.map((r) => new Date(Math.floor(r.last.scheduledAtMs / 1000) * 1000).toISOString());
  await waitFor(async () => okPeriods.filter((p) => announced.some((a) => a.to === p)).length, (n) => n >= okPeriods.length, 5_000, 50);
  sub.unsubscribe();
  for (const p of okPeriods) assert.ok(announced.some((a) => a.to === p), `${p} not announced`);
  for (const a of announced) assert.ok(periods.includes(a.to), `${a.to} announced, not written`);
  // Each run is a row of sluice.job_runs, as any job's.
  assert.ok(await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.job_runs WHERE job = 'report' AND outcome = 'ok'"), (n) => n >= finished.length, 10_000) >= finished.length, "job_runs rows of the report");
  let events = 0;
  let deadLetters = 0;
  for (const { by, entry } of reports) {
    const page = readFileSync(entry.files[0], "utf8");
    const [stored] = await q(pipeline, `SELECT count() AS n FROM sluice.events FINAL WHERE source = 'iot' AND ${within("ingest_time", entry.from, entry.to)}`);
    const shown = cell(page, "volumes", "iot", "events");
    assert.is(shown === undefined ? 0 : int(shown), Number(stored.n), `events in ${entry.from} – ${entry.to}`);
    assert.is(entry.events, Number(stored.n));
    events += entry.events;
    const [dead] = await q(pipeline, `SELECT count() AS n FROM sluice.dead_letters FINAL WHERE ${within("received_at", entry.from, entry.to)}`);
    assert.is(entry.dead_letters, Number(dead.n), `dead letters in ${entry.from} – ${entry.to}`);
    deadLetters += entry.dead_letters;
    // The same bytes in the lake, under reports/date=<day of the period's end>/, with the entry
    // (once the run is over: one a stop cut short may be in the state dir alone).
    if (!okPeriods.includes(entry.to)) continue;
    const inLake = join(lakeRoot, "reports", `date=${entry.to.slice(0, 10)}`);
    assert.ok(readFileSync(join(inLake, basename(entry.files[0]))).equals(readFileSync(entry.files[0])), `${basename(entry.files[0])} in the lake`);
    const json = `${basename(entry.files[0], ".html")}.json`;
    assert.equal(JSON.parse(readFileSync(join(inLake, json), "utf8")), JSON.parse(readFileSync(join(reportsDir(join(dir, by)), json), "utf8")));
  }
  assert.ok(deadLetters >= 3, `the scheduled reports counted the new dead letters (${deadLetters})`);
  const [all] = await q(pipeline, `SELECT count() AS n FROM sluice.events FINAL WHERE ${within("ingest_time", sorted[0].from, sorted[sorted.length - 1].to)}`);
  assert.ok(events >= 30, `the scheduled reports counted the new events (${events})`);
  assert.is(events, Number(all.n));
});

test("the report is a shipped job only with SLUICE_REPORT_CRON; a bad expression is refused when the jobs are built, naming it", () => {
  assert.equal(shippedJobs().map((j) => j.name), ["lake-compact", "rollup-daily", "retention"]);
  const withReport = shippedJobs({ cron: "0 6 * * *" });
  assert.equal(withReport.map((j) => j.name), ["lake-compact", "rollup-daily", "retention", "report"]);
  assert.is(withReport[3].schedule, "0 6 * * *");
  assert.throws(() => reportJob({ cron: "every morning" }), (err: Error) => err instanceof ReportScheduleError && err.message.includes('"every morning"'));
});

test.run();
