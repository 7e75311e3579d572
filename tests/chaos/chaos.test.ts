import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { ClickHouseClient } from "@clickhouse/client";
import { openClickHouse, type OpenClickHouse } from "../../clickhouse/index.ts";
import { loadConfig } from "../../config/index.ts";
import { streamOverrides, type ActorName } from "../../actors/pipeline.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { chaosWorkload, type ChaosWorkload, type RawMessage } from "../harness/chaos-workload.ts";
import { SplitPipeline } from "../harness/split-pipeline.ts";
import { diffRows, pipelineState, quiesce, scalar, streamEvents, streamMessages, tableRows, toRow, type Row, type StreamMessage, type TableSpec } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { surfaceHookErrors } from "../harness/hooks.ts";
import { expectedAlerts } from "../detect/helpers.ts";
import { replayKeyed } from "../harness/keyed-replay.ts";
import { windowDefinition } from "../../actors/window/index.ts";

/**
 * Issue 8's chaos test: the same fixed workload through the whole pipeline twice, each run on
 * fresh servers (nats-server, clickhouse-server 18.16) with every actor in its own process —
 * once without faults, once with SIGKILLs of every actor kind while it works, a SIGKILL and
 * restart of nats-server on the same store and port, and a ClickHouse server hung (SIGSTOP) and
 * killed. Once both runs are quiet, every table must hold the same rows, and no table may hold a
 * row twice even without FINAL. Each comparison is its own assertion, so a failure names the
 * guarantee that broke and shows the first differing rows.
 */

const MINUTE = 60_000;
const PHASE_TIMEOUT_MS = 120_000;
const QUIET_TIMEOUT_MS = 60_000;

/** Columns that say when or under which trace a run did something, not what it stored. */
const TABLES: Record<string, TableSpec> = {
  events: {
    name: "sluice.events FINAL",
    from: "sluice.events FINAL",
    exclude: { ingest_time: "the RAW stream timestamp: wall clock at publish", inserted_at: "wall clock at insert", trace_id: "a new trace per run" },
  },
  dead_letters: {
    name: "sluice.dead_letters FINAL",
    from: "sluice.dead_letters FINAL",
    exclude: {
      dlq_id: "the DLQ stream sequence: dead letters of one batch and of redelivered batches interleave by timing",
      received_at: "wall clock when the actor gave up",
      deliveries: "how often the broker delivered the message before it was dead-lettered: one more after a crash",
      trace_id: "a new trace per run",
    },
    normalise: { headers: (value) => withoutRunHeaders(String(value)), reason: (value) => withoutIngestTime(String(value)) },
  },
  windows: {
    name: "sluice.windows",
    from: "sluice.windows",
    exclude: { emitted_at: "EVENTS stream timestamp of the message that fired the window: wall clock", trace_id: "a new trace per run" },
  },
  window_aggregates: {
    name: "sluice.window_aggregates FINAL",
    from: "sluice.window_aggregates FINAL",
    exclude: { emitted_at: "EVENTS stream timestamp of the message that fired the window: wall clock", trace_id: "a new trace per run" },
  },
  anomalies: {
    name: "sluice.anomalies FINAL",
    from: "sluice.anomalies FINAL",
    exclude: { detected_at: "EVENTS stream timestamp of the message that released the alert: wall clock at publish", trace_id: "a new trace per run" },
  },
  late_events: {
    name: "sluice.late_events FINAL",
    from: "sluice.late_events FINAL",
    exclude: { received_at: "EVENTS stream timestamp of the late message: wall clock", trace_id: "a new trace per run" },
  },
};

/** Each table's identity: one row per identity, with or without FINAL. */
const IDENTITY: Record<string, { table: string; identity: string }> = {
  events: { table: "sluice.events", identity: "source, key, event_id" },
  dead_letters: { table: "sluice.dead_letters", identity: "actor, stream, stream_seq" },
  window_aggregates: { table: "sluice.window_aggregates", identity: "window_id, version, window_start, window_end" },
  anomalies: { table: "sluice.anomalies", identity: "event_id, metric, signal" },
  late_events: { table: "sluice.late_events", identity: "source, late_id" },
};

/** Dead-letter headers without the ones that carry a time, a delivery count or a trace. */
function withoutRunHeaders(json: string): string {
  const headers = JSON.parse(json) as Record<string, unknown>;
  for (const k of Object.keys(headers)) if (/^(traceparent|tracestate|sluice-failed-at|sluice-deliveries)$/i.test(k)) delete headers[k];
  return JSON.stringify(Object.fromEntries(Object.entries(headers).sort(([a], [b]) => a.localeCompare(b))));
}

/**
 * A reason without the RAW stream timestamp it quotes: the far-future reading is judged against
 * its ingest time, which is wall clock ("… 2591997s after (… at ingest 2026-12-01T09:07:28.937Z)").
 */
function withoutIngestTime(reason: string): string {
  return reason.replace(/\d+ ?s after/g, "<n> s after").replace(/(ingest )\d{4}-\d\d-\d\dT[\d:.]+Z/g, "$1<ingest time>");
}

/** The float fields of a window result (see `Row` for why they are compared approximately). */
const WINDOW_FLOATS = new Set(["sum", "min", "max", "mean", "stddev", "p50", "p95", "p99"]);

/** An AGG or LATE message as a row: its id and body, without the fields that carry a time or a trace. */
function messageRow(m: StreamMessage): Row {
  const { emitted_at: _emitted, trace_id: _trace, ...body } = JSON.parse(m.data) as Record<string, unknown>;
  return toRow({ ...body, "Nats-Msg-Id": m.msgId }, WINDOW_FLOATS);
}

interface RunResult {
  readonly label: string;
  /** What each fault found when it struck, or why it could not strike. */
  readonly faults: string[];
  /** Undefined when the run came to rest; else what was still missing or moving. */
  readonly unquiet: string | undefined;
  /** Actor processes that exited without being killed by the test. */
  readonly crashed: string[];
  /** Durable consumers still behind when the run ended, with their actor's last output. */
  readonly stuck: string[];
  readonly tables: Record<string, Row[]>;
  readonly exactlyOnce: Record<string, { rows: number; identities: number }>;
  readonly streamCounts: Record<string, number>;
  readonly events: StreamMessage[];
  readonly agg: StreamMessage[];
  readonly late: StreamMessage[];
  readonly alerts: StreamMessage[];
}

interface Ctx {
  workload: ChaosWorkload;
  clean: RunResult;
  faulted: RunResult;
  cleanups: Array<() => Promise<void>>;
}

const SUITE = "chaos: a faulted run stores exactly what a fault-free run stores";
const test = surfaceHookErrors(suite<Ctx>(SUITE), SUITE);

async function publishPhase(nc: NatsConnection, messages: readonly RawMessage[]): Promise<void> {
  const js = jetstream(nc);
  const encoder = new TextEncoder();
  for (let i = 0; i < messages.length; i += 500) {
    // Sent in order on one connection, so RAW sequences are the same in both runs.
    const acks = messages.slice(i, i + 500).map((m) =>
      withDeadline(js.publish(m.subject, typeof m.body === "string" ? encoder.encode(m.body) : m.body, m.msgId ? { msgID: m.msgId } : undefined), { what: `publish to ${m.subject}`, timeoutMs: 10_000 }));
    await Promise.all(acks);
  }
}

async function consumerInfo(nc: NatsConnection, stream: string, durable: string) {
  const jsm = await jetstreamManager(nc);
  return withDeadline(jsm.consumers.info(stream, durable), { what: `consumer ${stream}/${durable} info` });
}

/** Messages in `stream`; for EVENTS, events (a batch message counts as its events). */
async function streamSize(nc: NatsConnection, stream: string): Promise<number> {
  if (stream === "EVENTS") return streamEvents(nc, stream);
  const jsm = await jetstreamManager(nc);
  return (await withDeadline(jsm.streams.info(stream), { what: `stream ${stream} info` })).state.messages;
}

/** Kills `name` once its consumer has work in hand; says what it found. */
async function killWhileBusy(pipeline: SplitPipeline, nc: NatsConnection, name: ActorName, stream: string, faults: string[], ready: () => Promise<boolean> = async () => true): Promise<void> {
  const durable = await consumerInfo(nc, stream, name).then(() => true, () => false);
  if (!durable) {
    // A keyed actor reads with ordered consumers and keeps its position in a checkpoint: no
    // durable to ask, so it is killed once its input is there.
    const ok = await waitFor(ready, Boolean, 20_000, 50).catch(() => false);
    await pipeline.killAndRestart(name);
    faults.push(`SIGKILL ${name} (no durable consumer ${stream}/${name}): ${ok ? "after its input arrived" : "NOT busy (its input never arrived)"}`);
    return;
  }
  const busy = await waitFor(async () => {
    const c = await consumerInfo(nc, stream, name);
    return { c, ok: (await ready()) && c.num_pending + c.num_ack_pending > 0 };
  }, (v) => v.ok, 20_000, 50).catch(() => undefined);
  const c = busy?.c;
  await pipeline.killAndRestart(name);
  faults.push(`SIGKILL ${name}: ${busy?.ok ? "while busy" : "NOT busy (timed out waiting for work)"}, pending ${c?.num_pending}, unacked ${c?.num_ack_pending}, redelivered so far ${c?.num_redelivered}`);
  if (!busy?.ok) faults.push(pipeline.output(name, 6));
}

/**
 * Kills validate during its backlog. It reads RAW with keyed tasks from checkpoints (no durable
 * to ask), so "during the backlog" is: EVENTS has `afterEvents` but not yet everything RAW holds.
 */
async function killValidate(pipeline: SplitPipeline, nc: NatsConnection, faults: string[], afterEvents: number): Promise<void> {
  const seen = await waitFor(async () => {
    const [events, raw] = await Promise.all([streamSize(nc, "EVENTS"), streamSize(nc, "RAW")]);
    return { events, raw };
  }, (v) => v.events >= afterEvents, 30_000, 20).catch(() => undefined);
  await pipeline.killAndRestart("validate");
  if (!seen || seen.events < afterEvents || seen.events >= seen.raw) {
    faults.push(`SIGKILL validate: NOT during a backlog (EVENTS ${seen?.events} of RAW ${seen?.raw}, wanted at least ${afterEvents} and RAW not all handled within 30 s)\n${pipeline.output("validate", 6)}`);
    return;
  }
  faults.push(`SIGKILL validate at EVENTS ${seen.events} of RAW ${seen.raw}: its tasks restart from their checkpoints`);
}

async function runOnce(ctx: Ctx, label: string, withFaults: boolean, reference?: RunResult): Promise<RunResult> {
  const faults: string[] = [];
  const nats = await NatsServer.start();
  const ch = await ClickHouseServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-chaos-"));
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const config = loadConfig({ SLUICE_STATE_DIR: stateDir, CLICKHOUSE_URL: ch.url });
  let ch0: OpenClickHouse | undefined;
  let pipeline: SplitPipeline | undefined;
  ctx.cleanups.push(async () => {
    await pipeline?.stop(3_000);
    await ch0?.close();
    await nc.close().catch(() => undefined);
    await nats.stop();
    await ch.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const phases = ctx.workload.phases;
  const eventsAfter = (n: number) => new Set(phases.slice(0, n + 1).flatMap((p) => p.messages).flatMap((m) => ("event" in m.expect ? [m.expect.event] : []))).size;
  await ensureStreams(await jetstreamManager(nc), streamOverrides(config));
  // The bulk is in RAW before any actor starts: a backlog from the first second, RAW sequences fixed.
  await publishPhase(nc, phases[0].messages);
  pipeline = SplitPipeline.start({ NATS_URL: nats.url, CLICKHOUSE_URL: ch.url, SLUICE_STATE_DIR: stateDir, SLUICE_SINK_BATCH_MS: "200", SLUICE_LOG_LEVEL: "warn" });
  const started = Date.now();
  const p = pipeline;

  const phaseDone = async (n: number) => {
    const want = eventsAfter(n);
    const got = await waitFor(() => streamSize(nc, "EVENTS"), (m) => m >= want, PHASE_TIMEOUT_MS, 250);
    if (got < want) throw new Error(`${label}: phase ${phases[n].name} never completed: EVENTS has ${got} of ${want} messages\n${p.output("validate")}`);
  };

  // Each phase's faults strike while the actors work on it; the next phase is published only once
  // this one is entirely in EVENTS (see ChaosWorkload.phases).
  const strike: Record<string, () => Promise<void>> = !withFaults ? {} : {
    main: async () => {
      await killValidate(p, nc, faults, 1_500);
      await nats.kill("SIGKILL");
      await nats.restart(300);
      faults.push("SIGKILL nats-server, restarted on the same store and port after 300 ms");
      await killValidate(p, nc, faults, 5_000);
      // Soon after, so the three kills' redeliveries (ack_wait 30 s) overlap.
      await killValidate(p, nc, faults, 9_000);
      ch.suspend();
      await sleep(4_000);
      ch.resume();
      faults.push("SIGSTOP clickhouse-server for 4 s, then SIGCONT");
      await killWhileBusy(p, nc, "detect", "EVENTS", faults);
      await killWhileBusy(p, nc, "clickhouse-sink-events", "EVENTS", faults);
      await killWhileBusy(p, nc, "clickhouse-sink-dlq", "DLQ", faults);
      await killWhileBusy(p, nc, "clickhouse-sink-anomalies", "ALERTS", faults);
      // Past its first checkpoint (every 5 s), so the next owner restores one and replays after it.
      const up = Date.now() - started;
      if (up < 7_000) await sleep(7_000 - up);
      await p.killAndRestart("window");
      faults.push(`SIGKILL window ${((Date.now() - started) / 1000).toFixed(1)} s after start, EVENTS at ${await streamSize(nc, "EVENTS")} of ${eventsAfter(0)}`);
    },
    // Only detect: the steady sensors' order on EVENTS stays the publish order.
    steady: () => killWhileBusy(p, nc, "detect", "EVENTS", faults, async () => (await streamSize(nc, "EVENTS")) > eventsAfter(0)),
    advance: async () => {
      await waitFor(() => streamSize(nc, "AGG"), (n) => n > 0, 30_000, 20);
      await p.killAndRestart("window");
      faults.push(`SIGKILL window while it emitted the closed windows (AGG at ${await streamSize(nc, "AGG")})`);
      await killWhileBusy(p, nc, "clickhouse-sink-agg", "AGG", faults);
      await ch.kill("SIGKILL");
      await sleep(2_000);
      await ch.restart();
      faults.push("SIGKILL clickhouse-server, restarted on the same data after 2 s");
    },
    late: () => killWhileBusy(p, nc, "clickhouse-sink-late", "LATE", faults, async () => (await streamSize(nc, "LATE")) > 0),
  };
  for (let n = 0; n < phases.length; n++) {
    if (n > 0) await publishPhase(nc, phases[n].messages);
    const striking = strike[phases[n].name]?.() ?? Promise.resolve();
    await phaseDone(n);
    await striking;
  }

  ch0 = await openClickHouse({ url: ch.url, dataDir: stateDir, logger: { info: () => undefined, warn: () => undefined } });
  const client: ClickHouseClient = ch0.client;
  const counts = async () => Object.fromEntries(await Promise.all(Object.entries(IDENTITY).map(async ([k, v]) => [k, await scalar(client, `SELECT count() FROM ${v.table}`)] as const)));
  const atLeast: Record<string, number> = { EVENTS: ctx.workload.events, DLQ: ctx.workload.deadLetters };
  // The faulted run is over no earlier than the clean one was: a window actor between owners is
  // quiet too, and must not be mistaken for finished.
  if (reference) for (const s of ["AGG", "LATE"]) atLeast[s] = reference.streamCounts[s];
  // detect is keyed too, in either run: no durable says how far its tasks are, and one that is
  // behind (its consumer stalled, or the actor waits out a restart backoff) is as quiet as one
  // that is done. It is done once ALERTS holds what one uninterrupted detect publishes for what
  // EVENTS stored (its handler over each task's messages, tests/detect/helpers.ts).
  atLeast.ALERTS = (await expectedAlerts(nc)).size;
  // window is keyed as well: a fault-free run once came to rest with 2,545 of 2,867 AGG windows
  // and 15 of 20 LATE events, its window actor still behind. It is done once AGG and LATE hold
  // what its handler publishes over what EVENTS stored.
  const windowed = [...(await replayKeyed(nc, windowDefinition({ partitions: config.partitions, groupShards: config.groupShards }))).values()];
  for (const [streamName, prefix] of [["AGG", "agg."], ["LATE", "late."]] as const) {
    atLeast[streamName] = Math.max(atLeast[streamName] ?? 0, windowed.filter((o) => o.subject.startsWith(prefix)).length);
  }
  const quiet = await quiesce(nc, { atLeast, counts, timeoutMs: QUIET_TIMEOUT_MS, stableMs: withFaults ? 6_000 : 3_000 });
  const unquiet = quiet?.includes("ALERTS") ? `${quiet}\n${pipeline.output("detect", 30)}` : quiet;

  const crashed = pipeline.exited().map((e) => `${e.name} exited (code ${e.code}, signal ${e.signal}):\n${e.output}`);
  // The actors behind at the end, with what their processes said.
  const behind = Object.entries((await pipelineState(nc).catch(() => undefined))?.consumers ?? {}).filter(([, n]) => n > 0);
  const stuck = behind.map(([consumer, n]) => `${consumer}: ${n} messages behind\n${p.output(consumer.split("/")[1] as ActorName, 15)}`);
  const tables: Record<string, Row[]> = {};
  for (const [k, spec] of Object.entries(TABLES)) tables[k] = await tableRows(client, spec);
  const exactlyOnce: Record<string, { rows: number; identities: number }> = {};
  for (const [k, v] of Object.entries(IDENTITY)) {
    exactlyOnce[k] = { rows: await scalar(client, `SELECT count() FROM ${v.table}`), identities: await scalar(client, `SELECT uniqExact(${v.identity}) FROM ${v.table}`) };
  }
  const state = await pipelineState(nc);
  const result: RunResult = {
    label, faults, unquiet, crashed, stuck, tables, exactlyOnce,
    streamCounts: state.streams,
    events: await streamMessages(nc, "EVENTS"),
    agg: await streamMessages(nc, "AGG"),
    late: await streamMessages(nc, "LATE"),
    alerts: await streamMessages(nc, "ALERTS"),
  };
  console.log(`chaos ${label}: ${((Date.now() - started) / 1000).toFixed(1)} s; streams ${JSON.stringify(state.streams)}; rows ${JSON.stringify(exactlyOnce)}${faults.length ? `\n  ${faults.join("\n  ")}` : ""}`);
  await pipeline.stop(3_000);
  return result;
}

test.before(async (ctx) => {
  ctx.cleanups = [];
  const now = Date.now();
  // An hour and a quarter ago on a 15-minute boundary: every window of `main` is aligned, and the
  // final flush an hour later is still in the past, inside validate's future-skew limit.
  const base = Math.floor(now / (15 * MINUTE)) * 15 * MINUTE - 75 * MINUTE;
  ctx.workload = chaosWorkload({ base, nowMs: now });
  ctx.clean = await runOnce(ctx, "fault-free", false);
  ctx.faulted = await runOnce(ctx, "faulted", true, ctx.clean);
});

test.after(async (ctx) => {
  for (const cleanup of ctx.cleanups.reverse()) await cleanup().catch((err) => console.error(`cleanup: ${(err as Error).message}`));
});

test("both runs came to rest and no actor process died on its own", ({ clean, faulted }) => {
  const problems = [clean, faulted].flatMap((run) => [
    ...(run.unquiet === undefined ? [] : [`${run.label} run never came to rest: ${run.unquiet}`]),
    ...run.crashed.map((c) => `${run.label} run: ${c}`),
    ...(run.unquiet === undefined ? [] : run.stuck.map((s) => `${run.label} run: ${s}`)),
  ]);
  assert.ok(problems.length === 0, problems.join("\n"));
});

test("the fault-free run stored what the workload expects", ({ clean, workload }) => {
  assert.is(clean.streamCounts.RAW, workload.rawStored, "RAW: a producer's repeated Nats-Msg-Id is stored once");
  assert.is(clean.streamCounts.EVENTS, workload.events, "EVENTS: one message per distinct event id");
  assert.is(clean.streamCounts.DLQ, workload.deadLetters, "DLQ: one dead letter per hostile message");
  assert.is(clean.tables.events.length, workload.events, "sluice.events FINAL: one row per event");
  assert.is(clean.tables.dead_letters.length, workload.deadLetters, "sluice.dead_letters FINAL: one row per hostile message");
  assert.ok(clean.tables.windows.length > 0 && clean.tables.late_events.length > 0 && clean.tables.anomalies.length > 0,
    `every table has rows to compare (windows ${clean.tables.windows.length}, late ${clean.tables.late_events.length}, anomalies ${clean.tables.anomalies.length})`);
});

test("EVENTS: the faulted run's stream holds every event once", ({ faulted, workload }) => {
  assert.is(faulted.streamCounts.EVENTS, workload.events);
  const ids = faulted.events.map((m) => m.msgId);
  assert.is(new Set(ids).size, ids.length, "no Nats-Msg-Id twice on EVENTS");
});

/** Each `source/key`'s event ids in EVENTS order. */
function orderByKey(run: RunResult): Map<string, string> {
  const byKey = new Map<string, string[]>();
  for (const m of run.events) {
    const e = JSON.parse(m.data) as { source: string; key: string; event_id: string };
    const k = `${e.source}/${e.key}`;
    byKey.set(k, [...(byKey.get(k) ?? []), e.event_id]);
  }
  return new Map([...byKey].map(([k, ids]) => [k, ids.join(",")]));
}

/** Keys whose events reached EVENTS in another order in the faulted run. */
function reordered(clean: RunResult, faulted: RunResult): string[] {
  const a = orderByKey(clean);
  const b = orderByKey(faulted);
  return [...a.keys()].filter((k) => a.get(k) !== b.get(k)).sort();
}

test("EVENTS: each key's events in the same order in both runs (what detect and windows fold)", ({ clean, faulted }) => {
  const differing = reordered(clean, faulted);
  assert.ok(differing.length === 0, `${differing.length} keys see their events in another order after the faults, e.g. ${differing.slice(0, 5).join(", ")}`);
});

// Detection per sensor depends only on that sensor's events: where their order did not change,
// a difference is the detect actor's own (a restart that forgot what it had learned).
test("sluice.anomalies of sensors whose EVENTS order did not change: same rows in both runs", ({ clean, faulted }) => {
  const moved = new Set(reordered(clean, faulted));
  const steady = (rows: Row[]) => rows.filter((r) => {
    const cells = JSON.parse(r.exact) as { source: string; key: string };
    return cells.source === "iot" && !moved.has(`iot/${cells.key}`);
  });
  const a = steady(clean.tables.anomalies);
  const b = steady(faulted.tables.anomalies);
  const sensors = [...orderByKey(clean).keys()].filter((k) => k.startsWith("iot/") && !moved.has(k)).length;
  assert.ok(!moved.has("iot/steady-0") && a.length > 0, `the steady sensors kept their order and have anomalies to compare (${sensors} sensors kept their order, ${a.length} anomalies)`);
  const diff = diffRows(a, b);
  assert.ok(diff === undefined, `anomalies of the ${sensors} sensors whose input order held differ:\n${diff}`);
});

for (const name of Object.keys(TABLES)) {
  test(`${TABLES[name].name}: same rows in both runs (without ${Object.keys(TABLES[name].exclude).join(", ")})`, ({ clean, faulted }) => {
    const diff = diffRows(clean.tables[name], faulted.tables[name]);
    assert.ok(diff === undefined, `${TABLES[name].name} differs:\n${diff}`);
  });
}

for (const name of Object.keys(IDENTITY)) {
  test(`${IDENTITY[name].table} without FINAL: one row per ${IDENTITY[name].identity} in both runs`, ({ clean, faulted }) => {
    for (const run of [clean, faulted]) {
      const { rows, identities } = run.exactlyOnce[name];
      assert.is(rows, identities, `${run.label}: ${rows} rows for ${identities} distinct (${IDENTITY[name].identity}): ${rows - identities} stored twice`);
    }
  });
}

test("FINAL keeps a row for every distinct message its stream stored (no two ids share a sorting key)", ({ clean, faulted }) => {
  for (const run of [clean, faulted]) {
    const distinct = (messages: StreamMessage[]) => new Set(messages.map((m) => m.msgId ?? `seq ${m.seq}`)).size;
    const pairs: Array<[string, number, number]> = [
      ["EVENTS → sluice.events", distinct(run.events), run.tables.events.length],
      ["DLQ → sluice.dead_letters", run.streamCounts.DLQ, run.tables.dead_letters.length],
      ["LATE → sluice.late_events", distinct(run.late), run.tables.late_events.length],
      ["ALERTS → sluice.anomalies", distinct(run.alerts), run.tables.anomalies.length],
    ];
    const lost = pairs.filter(([, messages, rows]) => messages !== rows).map(([what, messages, rows]) => `${what}: ${messages} distinct messages, ${rows} rows under FINAL`);
    assert.equal(lost, [], `${run.label}: ${lost.join("; ")}`);
  }
});

for (const [stream, pick] of [["AGG", (r: RunResult) => r.agg], ["LATE", (r: RunResult) => r.late]] as const) {
  test(`${stream}: the same Nats-Msg-Id → body map in both runs, no id twice`, ({ clean, faulted }) => {
    const map = (run: RunResult) => {
      const ids = pick(run).map((m) => m.msgId ?? `(no id, seq ${m.seq})`);
      assert.is(new Set(ids).size, ids.length, `${run.label}: ${ids.length - new Set(ids).size} ${stream} messages repeat an id`);
      return pick(run).map(messageRow);
    };
    const diff = diffRows(map(clean), map(faulted));
    assert.ok(diff === undefined, `${stream} differs:\n${diff}`);
  });
}

test.run();
