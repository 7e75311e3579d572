import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { withDeadline } from "../../nats/deadline.ts";
import { ACTOR_NAMES } from "../../actors/pipeline.ts";
import { loadConfig } from "../../config/index.ts";
import { NatsCluster } from "./nats-cluster.ts";
import { NatsServer } from "./nats-server.ts";
import { startTestPipeline, type TestPipeline } from "./pipeline.ts";
import { validReadings, watermarkFlush } from "./events.ts";
import { publishUntilAcked, withIds, type IdentifiedMessage, type ProducerReport } from "./acked-producer.ts";
import { quiesce, streamMessages, tableRows, type Row, type TableSpec } from "./run-snapshot.ts";

const QUIET_TIMEOUT_MS = 180_000;
/** How long the producer publishes (paced in batches of {@link BATCH}): the faults strike while it does. */
export const PUBLISH_MS = 30_000;
const BATCH = 20;

const WINDOWS: TableSpec = {
  name: "sluice.windows",
  from: "sluice.windows",
  exclude: { emitted_at: "EVENTS stream timestamp of the message that fired the window: wall clock", trace_id: "a new trace per run" },
};

export interface RunResult {
  readonly label: string;
  readonly faults: string[];
  readonly producer: ProducerReport;
  readonly unquiet: string | undefined;
  /** Nats-Msg-Id of every event EVENTS holds, in stream order. */
  readonly eventIds: string[];
  /** `event_id`s in sluice.events FINAL, and the table's rows without FINAL. */
  readonly finalIds: string[];
  readonly rowsWithoutFinal: number;
  readonly windows: Row[];
  /** Messages on AGG: the faulted run is over no earlier than the clean one was. */
  readonly agg: number;
}

/**
 * A row with its integers as text: the second embedded engine a process opens answers
 * JSONEachRow with quoted 64-bit integers where the first gave numbers (seen: count 200 vs "200").
 */
function integersAsText(row: Row): Row {
  const cells = JSON.parse(row.exact) as Record<string, unknown>;
  return { ...row, exact: JSON.stringify(Object.fromEntries(Object.entries(cells).map(([k, v]) => [k, typeof v === "number" ? String(v) : v]))) };
}

async function eventIdsOf(pipeline: TestPipeline, final: boolean): Promise<string[]> {
  const rs = await pipeline.clickhouse!.client.query({ query: `SELECT event_id FROM sluice.events${final ? " FINAL" : ""} ORDER BY event_id`, format: "JSONEachRow" });
  return ((await rs.json()) as Array<{ event_id: string }>).map((r) => r.event_id);
}

/**
 * What strikes while the producer publishes: `acked()` is how many messages JetStream acknowledged
 * so far; `fault(what)` records each thing it did (with the time since the run started).
 */
export type FaultScript = (cluster: NatsCluster, probe: NatsConnection, acked: () => number, fault: (what: string) => void, pipeline: TestPipeline) => Promise<void>;

/** One progress sample of a run: seconds since its start, acknowledged, EVENTS messages, sluice.events rows (without FINAL). */
type Sample = readonly [t: number, acked: number, events: number, rows: number, agg: number];

/**
 * Where a run's time went, from its samples: the longest spell in which sluice.events was behind
 * the producer and got no new row (a pipeline waiting out a fault), and when it first held every
 * acknowledged message.
 */
function recovery(samples: readonly Sample[], total: number): string {
  let longest = 0;
  let from = 0;
  let since: number | undefined;
  let lastRows = -1;
  for (const [t, acked, , rows] of samples) {
    if (rows > lastRows || rows >= acked) since = undefined;
    else if (since === undefined) since = t;
    else if (t - since > longest) [longest, from] = [t - since, since];
    lastRows = Math.max(lastRows, rows);
  }
  const caughtUp = samples.find(([, , , rows]) => rows >= total);
  return `sluice.events stalled at most ${longest.toFixed(1)} s (from +${from.toFixed(1)} s); every acked row in by +${caughtUp ? caughtUp[0].toFixed(1) : "?"} s`;
}

/** Where a run's pipeline runs: a fresh 3-node cluster, or one server for a reference run. */
interface Servers {
  readonly url: string;
  readonly cluster?: NatsCluster;
  readonly replicas: string;
  probe(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

async function threeNodes(): Promise<Servers> {
  const cluster = await NatsCluster.start(3);
  return { url: cluster.url, cluster, replicas: "3", probe: () => cluster.probe(), stop: () => cluster.stop() };
}

async function oneServer(): Promise<Servers> {
  const server = await NatsServer.start();
  return { url: server.url, replicas: "1", probe: () => connect({ servers: server.url }), stop: () => server.stop() };
}

/**
 * One run of the whole pipeline (in this process, SLUICE_REPLICAS=3) on a fresh 3-node cluster
 * while a paced producer publishes `input` until every message is acknowledged, with a fault
 * script striking meanwhile; then what the run stored, for exactly-once and fault-free
 * comparisons (tests/cluster/).
 */
export async function runOnCluster(label: string, input: readonly IdentifiedMessage[], faultScript: FaultScript, reference: RunResult): Promise<RunResult> {
  return run(label, input, await threeNodes(), { faultScript, reference, paced: true });
}

/**
 * The fault-free reference for the cluster runs: the same input through the same pipeline on one
 * server, published as fast as it is acknowledged. The windows depend on the events and their
 * order within a key, not on the pacing or the number of replicas, and the faulted runs reorder a
 * key's events at most within a producer batch, as this one does; a paced fault-free run on a
 * cluster took three times as long for the same rows.
 */
export async function referenceRun(input: readonly IdentifiedMessage[]): Promise<RunResult> {
  return run("fault-free (one server)", input, await oneServer(), { paced: false });
}

async function run(label: string, input: readonly IdentifiedMessage[], servers: Servers, opts: { faultScript?: FaultScript; reference?: RunResult; paced: boolean }): Promise<RunResult> {
  const { faultScript, reference } = opts;
  const withFaults = faultScript !== undefined;
  const started = Date.now();
  let pipeline: TestPipeline | undefined;
  let probe: NatsConnection | undefined;
  let sampling: { stop(): void; done: Promise<void> } | undefined;
  try {
    // SLUICE_CLUSTER_LOG_LEVEL=info shows the actors' restarts and resumes next to the fault times.
    const env = { SLUICE_REPLICAS: servers.replicas, SLUICE_SINK_BATCH_MS: "200", ...(process.env.SLUICE_CLUSTER_LOG_LEVEL ? { SLUICE_LOG_LEVEL: process.env.SLUICE_CLUSTER_LOG_LEVEL } : {}) };
    await servers.cluster?.ensureProcessUser(ACTOR_NAMES, loadConfig(env).partitions);
    pipeline = await startTestPipeline(servers.url, { env });
    probe = await servers.probe();
    const at = () => (Date.now() - started) / 1000;
    const phases = [`pipeline up +${at().toFixed(1)} s`];
    const faults: string[] = [];
    const fault = (what: string) => void faults.push(`+${at().toFixed(1)} s ${what}`);
    let ackedSoFar = 0;
    const samples: Sample[] = [];
    sampling = sample(probe, pipeline, () => [at(), ackedSoFar], samples);
    const batchEveryMs = opts.paced ? PUBLISH_MS / Math.ceil(input.length / BATCH) : 0;
    const producing = publishUntilAcked(probe, input, { batch: BATCH, batchEveryMs, progress: (n) => (ackedSoFar = n), deadlineMs: 150_000 });
    const striking = faultScript && servers.cluster ? faultScript(servers.cluster, probe, () => ackedSoFar, fault, pipeline) : Promise.resolve();
    const [producer] = await Promise.all([producing.finally(() => phases.push(`producer done +${at().toFixed(1)} s`)), striking]);
    phases.push(`faults done +${at().toFixed(1)} s`);
    const p = pipeline;
    const unquiet = await quiesce(probe, {
      // The window actor is keyed (no durable to say it is behind): a run between owners is quiet too.
      atLeast: { EVENTS: producer.acked.size, ...(reference ? { AGG: reference.agg } : {}) },
      counts: async () => ({ events: await p.scalar("SELECT count() FROM sluice.events FINAL"), windows: await p.scalar("SELECT count() FROM sluice.windows") }),
      timeoutMs: QUIET_TIMEOUT_MS,
      stableMs: withFaults ? 5_000 : 3_000,
    });
    phases.push(`at rest +${at().toFixed(1)} s`);
    sampling.stop();
    const eventIds = (await streamMessages(probe, "EVENTS")).map((m) => m.msgId ?? `(no id, seq ${m.seq})`);
    const result: RunResult = {
      label,
      faults,
      producer,
      unquiet,
      eventIds,
      finalIds: await eventIdsOf(pipeline, true),
      rowsWithoutFinal: (await eventIdsOf(pipeline, false)).length,
      windows: (await tableRows(pipeline.clickhouse!.client, WINDOWS)).map(integersAsText),
      agg: (await streamMessages(probe, "AGG")).length,
    };
    phases.push(`read +${at().toFixed(1)} s`);
    console.log(`cluster ${label}: ${at().toFixed(1)} s; acked ${producer.acked.size} (retries ${producer.retries}, duplicate acks ${producer.duplicates}); EVENTS ${eventIds.length}; rows ${result.rowsWithoutFinal}; windows ${result.windows.length}; AGG ${result.agg}` +
      `\n  ${phases.join(", ")}\n  ${recovery(samples, producer.acked.size)}${faults.length ? `\n  ${faults.join("\n  ")}` : ""}`);
    if (process.env.SLUICE_CLUSTER_TRACE) console.log(samples.map(([t, a, e, r, g]) => `  +${t.toFixed(1)} s acked ${a} EVENTS ${e} rows ${r} AGG ${g}`).join("\n"));
    return result;
  } finally {
    sampling?.stop();
    await sampling?.done;
    const stopping = Date.now();
    await pipeline?.cleanup().catch((err) => console.error(`pipeline cleanup: ${(err as Error).message}`));
    await probe?.close().catch(() => undefined);
    await servers.stop();
    console.log(`cluster ${label}: stopped in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
  }
}


/**
 * Samples the run's progress every second until stopped. A sample the broker or ClickHouse does
 * not answer within 2 s is left out (a fault is in progress): the gap shows in the trace.
 */
function sample(probe: NatsConnection, pipeline: TestPipeline, now: () => [number, number], into: Sample[]): { stop(): void; done: Promise<void> } {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const [t, acked] = now();
      try {
        const jsm = await jetstreamManager(probe, { checkAPI: false });
        const messages = (stream: string) => withDeadline(async () => (await jsm.streams.info(stream)).state.messages, { what: `${stream} info`, timeoutMs: 2_000 });
        const events = await messages("EVENTS");
        const rows = await withDeadline(() => pipeline.scalar("SELECT count() FROM sluice.events"), { what: "rows", timeoutMs: 2_000 });
        into.push([t, acked, events, rows, await messages("AGG")]);
      } catch {
        // A missing sample is the information.
      }
      await sleep(Math.max(0, 1_000 - ((Date.now() % 1_000))));
    }
  })();
  return { stop: () => void (stopped = true), done };
}

/** The input of a cluster run: `events` IoT readings two hours back, then a reading per sensor an hour on that closes their windows. */
export function clusterInput(events: number, sensors = 6): IdentifiedMessage[] {
  // On a 15-minute boundary: the flush an hour later is still in the past.
  const base = Math.floor(Date.now() / 900_000) * 900_000 - 2 * 3_600_000;
  return withIds([...validReadings(events, base, sensors), ...watermarkFlush(base + 3_600_000, sensors)], "cluster");
}

/** Waits (polling, up to `timeoutMs`) until the producer has `n` acknowledged. */
export async function untilAcked(acked: () => number, n: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (acked() < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
