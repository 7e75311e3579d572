import type { ClickHouseClient } from "@clickhouse/client";
import { jetstream, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { sinkActor } from "../../actors/sink/sink.ts";
import { OpenServices, SERVICES } from "../../actors/services.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { seconds } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { waitFor } from "../harness/wait.ts";
import { deadLetterRow, eventRow, insertRows, timeValue, windowRow, type Capabilities } from "../../clickhouse/index.ts";
import { anomalyRow } from "../../clickhouse/rows-detect.ts";
import { dqResultRow } from "../../clickhouse/rows-quality.ts";
import { LATE_EVENT_COLUMNS } from "../../clickhouse/migrations-windows.ts";
import { IDENTITY_COLUMNS, TABLES, WINDOW_TABLES, type IdentifiedTable } from "../../clickhouse/schema.ts";

const T0 = Date.UTC(2020, 0, 1, 12);

/** Rows of one table, `i` telling them apart, and how to insert them. */
export interface IdentityCase {
  readonly table: string;
  readonly identity: readonly string[];
  row(i: number): Record<string, unknown>;
  insert(client: ClickHouseClient, rows: Record<string, unknown>[]): Promise<void>;
}

/** One case per table a sink writes, each row built by the table's own row mapper. */
export function identityCases(caps: Capabilities, tag: string): Record<IdentifiedTable, IdentityCase> {
  const of = <T extends keyof typeof TABLES>(table: T, row: (i: number) => object): IdentityCase => ({
    table: TABLES[table],
    identity: IDENTITY_COLUMNS[table as IdentifiedTable],
    row: (i) => row(i) as Record<string, unknown>,
    insert: (client, rows) => insertRows(client, table, rows as never[]),
  });
  return {
    events: of("events", (i) => eventRow({ event_id: `${tag}-e${i}`, source: "iot", key: `k${i % 3}`, schema_version: 1, event_time: T0 + i * 1000, ingest_time: T0, payload: { i }, raw_subject: "raw.iot.k", raw_seq: i + 1 }, "", caps)),
    dead_letters: of("dead_letters", (i) => deadLetterRow({ dlq_id: `${tag}:EVENTS:${i}`, received_at: T0, actor: tag, source: "iot", subject: "events.iot.0", stream: "EVENTS", stream_seq: i, deliveries: 1, reason: "r", error_code: "c", payload: "{}", headers: {} }, "", caps)),
    window_aggregates: of("window_aggregates", (i) => windowRow({ window_id: `${tag}-w${i}`, source: "iot", kind: "tumbling", key: "k", metric: "m", window_start: T0 + i * 60_000, window_end: T0 + (i + 1) * 60_000, count: 1, sum: 1, min: 1, max: 1, mean: 1, stddev: 0, p50: 1, p95: 1, p99: 1, distinct_count: 1, version: i % 2 + 1, emitted_at: T0 }, "", caps)),
    anomalies: of("anomalies", (i) => anomalyRow({ event_id: `${tag}-a${i}`, source: "iot", key: "k", metric: "m", score: 0.9, severity: "high", signal: "level", explanation: {}, expected_low: 0, expected_high: 1, observed: 2, event_time: T0 + i * 1000, detected_at: T0 }, "", caps)),
    dq_results: of("dq_results", (i) => dqResultRow({ report_id: `${tag}-r${i}`, minute: T0 / 1000, source: "iot", expectation: "x", kind: "not_null", severity: "warn", evaluated: 1, failed: 0, sample_event_id: "", sample_reason: "", reported_at: T0 / 1000 })),
    late_events: {
      table: WINDOW_TABLES.late_events,
      identity: IDENTITY_COLUMNS.late_events,
      row: (i) => ({
        late_id: `${tag}-l${i}`, source: "iot", key: "k", event_id: `${tag}-l${i}`, event_time: timeValue(T0, caps, "late", "t"), watermark: timeValue(T0, caps, "late", "t"),
        partition: 0, reason: "late", allowed_lateness_ms: 0, window_ids: [], windows: "[]", payload: "{}", received_at: timeValue(T0, caps, "late", "t"), trace_id: "",
      }),
      insert: async (client, rows) => void (await client.insert({ table: WINDOW_TABLES.late_events, values: rows, columns: [...LATE_EVENT_COLUMNS], format: "JSONEachRow" })),
    },
  };
}

/**
 * A client that counts its queries (the sink's lookups) and, while `afterInsert` is set, runs it
 * once each real INSERT has returned: the moment between a sink's INSERT and its acks.
 */
/** The services a sink takes at start, with `client` as the ClickHouse it writes (a watched one, say). */
export function clickhouseServices(client: ClickHouseClient, caps: Capabilities): OpenServices {
  return new OpenServices().provide(SERVICES.clickhouse, { client, caps, kind: "embedded", target: "the test's ClickHouse", close: async () => undefined });
}

export function watchedClient(client: ClickHouseClient): { client: ClickHouseClient; queries: () => number; afterInsert?: () => void | Promise<void> } {
  let queries = 0;
  const watch: { client: ClickHouseClient; queries: () => number; afterInsert?: () => void | Promise<void> } = { client, queries: () => queries };
  watch.client = new Proxy(client, {
    get(target, prop) {
      if (prop === "query") return (...args: Parameters<ClickHouseClient["query"]>) => (queries++, target.query(...args));
      if (prop === "insert") {
        return async (...args: Parameters<ClickHouseClient["insert"]>) => {
          const result = await target.insert(...args);
          await watch.afterInsert?.();
          return result;
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return watch;
}

/** What a dropped connection looks like once ClickHouse has stored the rows: the client never hears back. */
export function lostResponse(): Error {
  return Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
}

async function scalar(client: ClickHouseClient, sql: string): Promise<number> {
  const rs = await client.query({ query: sql, format: "JSONEachRow" });
  return Number(Object.values(((await rs.json()) as Array<Record<string, unknown>>)[0] ?? { v: 0 })[0]);
}

export interface CrashOutcome {
  /** Rows of the source without FINAL and distinct (source, key, event_id). */
  readonly rows: number;
  readonly distinct: number;
  /** Lookups the first and the second run issued. */
  readonly firstRunQueries: number;
  readonly secondRunQueries: number;
  readonly settled: boolean;
}

/**
 * `n` events through an events sink that dies right after its INSERT stored them and before any
 * ack (`mode: "crash"`: the run ends, the messages are redelivered to a new sink instance, as to a
 * restarted process), or whose INSERT response is lost once (`mode: "lost-response"`: the same
 * instance holds and retries the batch, deliveries still 1).
 */
export async function sinkDiesBetweenInsertAndAck(
  deps: { nc: NatsConnection; jsm: JetStreamManager; client: ClickHouseClient; caps: Capabilities },
  opts: { source: Envelope["source"]; durable: string; n: number; mode: "crash" | "lost-response" },
): Promise<CrashOutcome> {
  const log = createLogger("error");
  const { source, durable, n } = opts;
  const js = jetstream(deps.nc);
  const T = Date.UTC(2020, 0, 1, 12);
  await Promise.all(Array.from({ length: n }, (_, i) => {
    const e: Envelope = { event_id: `${durable}-${i}`, source, key: `k-${i % 5}`, schema_version: 1, event_time: T + i * 1000, ingest_time: T, payload: { i }, raw_subject: `raw.${source}.k`, raw_seq: i + 1 };
    return js.publish(`events.${source}.0`, JSON.stringify(e), { msgID: e.event_id });
  }));
  const sink = (ackWait: number) => sinkActor({
    name: durable,
    consumes: { stream: "EVENTS", durable_name: durable, filter_subject: `events.${source}.>`, ack_policy: "explicit", deliver_policy: "all", ack_wait: ackWait, max_deliver: -1, max_ack_pending: 10_000 },
    table: "events",
    maxRows: 5_000,
    maxWaitMs: 300,
    toRow: (input, caps) => eventRow(JSON.parse(new TextDecoder().decode(input.data)) as Envelope, input.traceId, caps),
  });
  const count = (what: string) => scalar(deps.client, `SELECT ${what} FROM sluice.events WHERE source = '${source}'`);
  const settledNow = async () => {
    const info = await deps.jsm.consumers.info("EVENTS", durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  };

  const first = watchedClient(deps.client);
  const firstRun = new AbortController();
  let secondRunQueries = 0;
  let settled: boolean;
  if (opts.mode === "crash") {
    // Its own connection, closed while the handler waits after its INSERT: no ack and no nak
    // reaches the server, as when the process is SIGKILLed; ack_wait later redelivers.
    const doomed = await connect({ servers: deps.nc.getServer() });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    first.afterInsert = async () => {
      first.afterInsert = undefined;
      await released;
      throw lostResponse();
    };
    const running = runActor(sink(seconds(2)), { nc: doomed, log, signal: firstRun.signal, services: clickhouseServices(first.client, deps.caps) }).catch(() => undefined);
    await waitFor(() => count("count()"), (c) => c >= n, 20_000, 100);
    await doomed.close();
    const second = watchedClient(deps.client);
    const secondRun = new AbortController();
    const restarted = runActor(sink(seconds(2)), { nc: deps.nc, log, signal: secondRun.signal, services: clickhouseServices(second.client, deps.caps) });
    // Settled once no message is left unacked; the first count is still n while none is redelivered yet.
    await new Promise((r) => setTimeout(r, 2_500));
    settled = await waitFor(settledNow, Boolean, 20_000, 100);
    secondRun.abort();
    await restarted;
    firstRun.abort();
    release();
    await running;
    secondRunQueries = second.queries();
  } else {
    first.afterInsert = () => {
      first.afterInsert = undefined;
      throw lostResponse();
    };
    const running = runActor(sink(seconds(20)), { nc: deps.nc, log, signal: firstRun.signal, services: clickhouseServices(first.client, deps.caps) });
    settled = await waitFor(settledNow, Boolean, 20_000, 100);
    firstRun.abort();
    await running;
  }
  return { rows: await count("count()"), distinct: await count("uniqExact(source, key, event_id)"), firstRunQueries: first.queries(), secondRunQueries, settled };
}
