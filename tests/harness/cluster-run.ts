import type { NatsConnection } from "@nats-io/transport-node";
import { ACTOR_NAMES } from "../../actors/pipeline.ts";
import { loadConfig } from "../../config/index.ts";
import { NatsCluster } from "./nats-cluster.ts";
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

/** What strikes while the producer publishes: `acked()` is how many messages JetStream acknowledged so far; it says what it did in `faults`. */
export type FaultScript = (cluster: NatsCluster, probe: NatsConnection, acked: () => number, faults: string[], pipeline: TestPipeline) => Promise<void>;

/**
 * One run of the whole pipeline (in this process, SLUICE_REPLICAS=3) on a fresh 3-node cluster
 * while a paced producer publishes `input` until every message is acknowledged, with a fault
 * script striking meanwhile; then what the run stored, for exactly-once and fault-free
 * comparisons (tests/cluster/).
 */
export async function runOnCluster(label: string, input: readonly IdentifiedMessage[], faultScript?: FaultScript, reference?: RunResult): Promise<RunResult> {
  const withFaults = faultScript !== undefined;
  const cluster = await NatsCluster.start(3);
  let pipeline: TestPipeline | undefined;
  let probe: NatsConnection | undefined;
  const started = Date.now();
  try {
    const env = { SLUICE_REPLICAS: "3", SLUICE_SINK_BATCH_MS: "200" };
    await cluster.ensureProcessUser(ACTOR_NAMES, loadConfig(env).partitions);
    pipeline = await startTestPipeline(cluster.url, { env });
    probe = await cluster.probe();
    const faults: string[] = [];
    let ackedSoFar = 0;
    const batchEveryMs = PUBLISH_MS / Math.ceil(input.length / BATCH);
    const producing = publishUntilAcked(probe, input, { batch: BATCH, batchEveryMs, progress: (n) => (ackedSoFar = n), deadlineMs: 150_000 });
    const striking = faultScript ? faultScript(cluster, probe, () => ackedSoFar, faults, pipeline) : Promise.resolve();
    const [producer] = await Promise.all([producing, striking]);
    const p = pipeline;
    const unquiet = await quiesce(probe, {
      // The window actor is keyed (no durable to say it is behind): a run between owners is quiet too.
      atLeast: { EVENTS: producer.acked.size, ...(reference ? { AGG: reference.agg } : {}) },
      counts: async () => ({ events: await p.scalar("SELECT count() FROM sluice.events FINAL"), windows: await p.scalar("SELECT count() FROM sluice.windows") }),
      timeoutMs: QUIET_TIMEOUT_MS,
      stableMs: withFaults ? 5_000 : 3_000,
    });
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
    console.log(`cluster ${label}: ${((Date.now() - started) / 1000).toFixed(1)} s; acked ${producer.acked.size} (retries ${producer.retries}, duplicate acks ${producer.duplicates}); EVENTS ${eventIds.length}; rows ${result.rowsWithoutFinal}; windows ${result.windows.length}; AGG ${result.agg}${faults.length ? `\n  ${faults.join("\n  ")}` : ""}`);
    return result;
  } finally {
    await pipeline?.cleanup().catch((err) => console.error(`pipeline cleanup: ${(err as Error).message}`));
    await probe?.close().catch(() => undefined);
    await cluster.stop();
  }
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
