import type { ClickHouseClient } from "@clickhouse/client";
import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { withDeadline } from "../../nats/deadline.ts";
import { eventCount, eventsOf } from "../../actors/runtime/delivery.ts";
import { eventMsgId } from "../../subjects/identity.ts";

/**
 * What a run left behind, reduced to what must not depend on timing, for comparing a faulted run
 * with a fault-free one: table rows without their wall-clock and trace columns, stream contents,
 * and the counts that show exactly-once without `FINAL`.
 */

/** A table (or view) and the columns left out of the comparison, with the reason. */
export interface TableSpec {
  readonly name: string;
  readonly from: string;
  readonly exclude: Readonly<Record<string, string>>;
  /** Turns a raw cell into what is compared (default: the cell as read; floats see {@link Row}). */
  readonly normalise?: Readonly<Record<string, (value: unknown) => unknown>>;
}

/**
 * A row as compared: the exact cells as one canonical JSON line, and the Float64 cells apart.
 * Sums, means and standard deviations are folded in arrival order, and another order changes
 * their last bits (a standard deviation of 1267 readings near 908 hPa by 1e-11 relative, from
 * cancellation in Welford's M2), so floats are compared to a relative 1e-9.
 */
export interface Row {
  readonly exact: string;
  readonly floats: readonly number[];
}

const RELATIVE = 1e-9;

function close(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i] || Math.abs(x - b[i]) <= RELATIVE * Math.max(Math.abs(x), Math.abs(b[i])));
}

function shown(row: Row): string {
  return row.floats.length ? `${row.exact} floats ${JSON.stringify(row.floats)}` : row.exact;
}

/** A row of named cells, the ones named in `floats` compared approximately (when finite numbers). */
export function toRow(cells: Readonly<Record<string, unknown>>, floats: ReadonlySet<string>): Row {
  const exact: Record<string, unknown> = {};
  const approx: number[] = [];
  for (const name of Object.keys(cells).sort()) {
    const n = Number(cells[name]);
    if (floats.has(name) && cells[name] !== null && Number.isFinite(n)) approx.push(n);
    else exact[name] = cells[name];
  }
  return { exact: JSON.stringify(exact), floats: approx };
}

async function columnsOf(client: ClickHouseClient, table: string): Promise<Array<{ name: string; type: string }>> {
  const [database, name] = table.replace(/ FINAL$/, "").split(".");
  const rs = await client.query({
    query: `SELECT name, type FROM system.columns WHERE database = '${database}' AND table = '${name}' ORDER BY name`,
    format: "JSONEachRow",
  });
  return (await rs.json()) as Array<{ name: string; type: string }>;
}

/** Every row of `spec.from`, excluded columns left out, normalised cells normalised. */
export async function tableRows(client: ClickHouseClient, spec: TableSpec): Promise<Row[]> {
  const columns = (await columnsOf(client, spec.from)).filter((c) => !(c.name in spec.exclude));
  if (columns.length === 0) throw new Error(`${spec.from}: no columns (does the table exist?)`);
  const floats = new Set(columns.filter((c) => /^(Nullable\()?Float(32|64)/.test(c.type)).map((c) => c.name));
  const rs = await client.query({ query: `SELECT ${columns.map((c) => `\`${c.name}\``).join(", ")} FROM ${spec.from}`, format: "JSONEachRow" });
  const rows = (await rs.json()) as Array<Record<string, unknown>>;
  return rows.map((row) => toRow(Object.fromEntries(columns.map((c) => {
    const custom = spec.normalise?.[c.name];
    return [c.name, custom ? custom(row[c.name]) : row[c.name]];
  })), floats));
}

export async function scalar(client: ClickHouseClient, query: string): Promise<number> {
  const rs = await client.query({ query, format: "JSONEachRow" });
  const rows = (await rs.json()) as Array<Record<string, unknown>>;
  return Number(Object.values(rows[0] ?? { v: 0 })[0]);
}

/**
 * Multiset difference of two row lists, spelled out: how many rows only each side has, and the
 * first few of each. Undefined when every row has its match (exact cells equal, floats close).
 */
export function diffRows(a: readonly Row[], b: readonly Row[], labels: [string, string] = ["fault-free", "faulted"], show = 4): string | undefined {
  const groups = new Map<string, { a: Row[]; b: Row[] }>();
  for (const r of a) (groups.get(r.exact) ?? groups.set(r.exact, { a: [], b: [] }).get(r.exact)!).a.push(r);
  for (const r of b) (groups.get(r.exact) ?? groups.set(r.exact, { a: [], b: [] }).get(r.exact)!).b.push(r);
  const onlyA: Row[] = [];
  const onlyB: Row[] = [];
  for (const g of groups.values()) {
    const left = [...g.b];
    for (const r of g.a) {
      const i = left.findIndex((o) => close(r.floats, o.floats));
      if (i >= 0) left.splice(i, 1);
      else onlyA.push(r);
    }
    onlyB.push(...left);
  }
  if (onlyA.length === 0 && onlyB.length === 0) return undefined;
  const byText = (x: Row, y: Row) => shown(x).localeCompare(shown(y));
  const cut = (r: Row) => {
    const text = shown(r);
    return text.length > 700 ? `${text.slice(0, 700)}…` : text;
  };
  return [
    `${a.length} rows (${labels[0]}) vs ${b.length} rows (${labels[1]}): ${onlyA.length} only in ${labels[0]}, ${onlyB.length} only in ${labels[1]}`,
    ...onlyA.sort(byText).slice(0, show).map((r) => `  - ${labels[0]}: ${cut(r)}`),
    ...onlyB.sort(byText).slice(0, show).map((r) => `  + ${labels[1]}: ${cut(r)}`),
  ].join("\n");
}

export interface StreamMessage {
  readonly seq: number;
  /** The event's place in its batch message (subjects/event-batch.ts); undefined for a single-event message. */
  readonly index?: number;
  readonly subject: string;
  /**
   * The message's `Nats-Msg-Id`; for an event of a batch message, the id it would have on its own
   * (subjects/identity.ts, from its envelope), so "no id twice" still means "no event twice".
   */
  readonly msgId: string | undefined;
  readonly data: string;
}

/** Every event of `stream` in stream order (a batch message's events in their order), read with an ordered consumer. */
export async function streamMessages(nc: NatsConnection, stream: string, timeoutMs = 30_000): Promise<StreamMessage[]> {
  const jsm = await jetstreamManager(nc);
  const info = await withDeadline(jsm.streams.info(stream), { what: `stream ${stream} info` });
  const last = info.state.last_seq;
  if (info.state.messages === 0) return [];
  const consumer = await withDeadline(jetstream(nc).consumers.get(stream), { what: `ordered consumer on ${stream}` });
  const decoder = new TextDecoder();
  return withDeadline(async () => {
    const out: StreamMessage[] = [];
    const messages = await consumer.consume({ max_messages: 1_000 });
    for await (const m of messages as AsyncIterable<JsMsg>) {
      for (const e of eventsOf(m.subject, m.seq, m.headers, m.data)) {
        const data = decoder.decode(e.data);
        const msgId = e.index === undefined ? m.headers?.get("Nats-Msg-Id") || undefined : ownEventId(data);
        out.push({ seq: m.seq, ...(e.index !== undefined ? { index: e.index } : {}), subject: m.subject, msgId, data });
      }
      if (m.seq >= last) break;
    }
    await messages.close();
    return out;
  }, { what: `read ${info.state.messages} messages of ${stream}`, timeoutMs });
}

/** The EVENTS id a batched event would have on its own message. */
function ownEventId(json: string): string | undefined {
  try {
    const e = JSON.parse(json) as { source: string; key: string; event_id: string };
    return eventMsgId(e.source, e.key, e.event_id);
  } catch {
    return undefined;
  }
}

const counted = new WeakMap<NatsConnection, Map<string, { through: number; events: number }>>();

/**
 * How many events `stream` holds: its messages, a batch message counting as its events. Reads
 * the headers of messages not counted before on this connection (streams in tests only grow).
 */
export async function streamEvents(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const info = await withDeadline(jsm.streams.info(stream), { what: `stream ${stream} info` });
  const byStream = counted.get(nc) ?? new Map<string, { through: number; events: number }>();
  counted.set(nc, byStream);
  let known = byStream.get(stream);
  if (!known || known.through > info.state.last_seq || info.state.messages === 0) known = { through: info.state.first_seq - 1, events: 0 };
  if (info.state.messages === 0 || known.through >= info.state.last_seq) {
    byStream.set(stream, known);
    return known.events;
  }
  const last = info.state.last_seq;
  const consumer = await withDeadline(jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: known.through + 1, headers_only: true }), { what: `headers-only consumer on ${stream}` });
  const result = await withDeadline(async () => {
    let { through, events } = known;
    const messages = await consumer.consume({ max_messages: 1_000 });
    for await (const m of messages as AsyncIterable<JsMsg>) {
      events += eventCount(m);
      through = m.seq;
      if (m.seq >= last) break;
    }
    await messages.close();
    return { through, events };
  }, { what: `count the events of ${stream} after sequence ${known.through}`, timeoutMs: 30_000 });
  byStream.set(stream, result);
  return result.events;
}

export interface PipelineState {
  /** Messages per stream; for EVENTS, events (a batch message counts as its events). */
  readonly streams: Readonly<Record<string, number>>;
  /** Pending plus unacknowledged messages over every durable consumer of the watched streams. */
  readonly backlog: number;
  readonly consumers: Readonly<Record<string, number>>;
}

/** Streams whose consumers must be caught up for a run to be over; DQ reports arrive on a wall-clock tick and are left out. */
export const WATCHED_STREAMS = ["RAW", "EVENTS", "DLQ", "AGG", "LATE", "ALERTS"] as const;

export async function pipelineState(nc: NatsConnection): Promise<PipelineState> {
  const jsm = await withDeadline(jetstreamManager(nc), { what: "jetstream manager" });
  const streams: Record<string, number> = {};
  const consumers: Record<string, number> = {};
  let backlog = 0;
  for (const stream of WATCHED_STREAMS) {
    const info = await withDeadline(jsm.streams.info(stream), { what: `stream ${stream} info` });
    streams[stream] = stream === "EVENTS" ? await streamEvents(nc, stream) : info.state.messages;
    const list = await withDeadline(jsm.consumers.list(stream).next(), { what: `consumers of ${stream}` });
    for (const c of list) {
      if (!c.config.durable_name) continue;
      consumers[`${stream}/${c.name}`] = c.num_pending + c.num_ack_pending;
      backlog += c.num_pending + c.num_ack_pending;
    }
  }
  return { streams, backlog, consumers };
}

/**
 * Waits until every durable consumer is caught up, each stream holds at least `atLeast` messages,
 * and nothing (streams, `counts()`) has changed for `stableMs`. Returns undefined then, or what
 * was still moving or missing at the timeout.
 */
export async function quiesce(nc: NatsConnection, opts: { atLeast: Readonly<Record<string, number>>; counts: () => Promise<Record<string, number>>; timeoutMs: number; stableMs?: number }): Promise<string | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  const stableMs = opts.stableMs ?? 3_000;
  let last = "";
  let since = Date.now();
  let why = "nothing read yet";
  while (Date.now() < deadline) {
    try {
      const state = await pipelineState(nc);
      const counts = await opts.counts();
      const short = Object.entries(opts.atLeast).filter(([s, n]) => (state.streams[s] ?? 0) < n);
      const now = JSON.stringify({ streams: state.streams, counts });
      if (now !== last) {
        last = now;
        since = Date.now();
      }
      why = short.length ? `streams short: ${short.map(([s, n]) => `${s} ${state.streams[s]} of ${n}`).join(", ")}`
        : state.backlog > 0 ? `consumers behind: ${JSON.stringify(Object.fromEntries(Object.entries(state.consumers).filter(([, n]) => n > 0)))}`
        : Date.now() - since < stableMs ? `still changing: ${now}`
        : "";
      if (!why) return undefined;
    } catch (err) {
      why = `could not read the state: ${(err as Error).message}`;
    }
    await sleep(500);
  }
  return why;
}
