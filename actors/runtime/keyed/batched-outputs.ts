import { Buffer } from "node:buffer";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { withDeadline } from "../../../nats/deadline.ts";
import { batchMsgId, encodeEventBatch, EVENTS_HEADER, rawRangeOfBatchId } from "../../../subjects/event-batch.ts";
import { HEADERS } from "../../../subjects/catalog.ts";
import type { Inbound, Outbound } from "../actor.ts";

/** One output of a handler batch, in the order the handler emitted it. */
export interface OutputItem {
  readonly out: Outbound;
  readonly input: Inbound | undefined;
  /** Carried in a batch; its line gets `traceparent`. */
  readonly batched: boolean;
  readonly traceparent?: string;
}

/** A message to publish: an output as it was, or a batch of events and the inputs they answer. */
export type Packed = { readonly out: Outbound; readonly input: Inbound | undefined; readonly batch?: undefined } | { readonly out: Outbound; readonly input?: undefined; readonly batch: readonly Inbound[] };

/** Room left in a message for its headers (ids, counts, trace context). */
const HEADER_ROOM = 16_384;
/** A line's bytes beyond its JSON: the traceparent and the separators. */
const LINE_OVERHEAD = 57;

const decoder = new TextDecoder();
const textOf = (data: Uint8Array | string) => (typeof data === "string" ? data : decoder.decode(data));

/**
 * The messages of one handler batch, in publish order: per subject, each run of batched outputs
 * becomes one message, cut where an output of the same subject goes out on its own (a replayed
 * event) or where the next event would take the body over `maxPayload`. Each subject's events
 * so keep their emitted order on the stream, and the cuts depend only on the outputs, so the same
 * inputs give the same messages and ids.
 */
export function packOutputs(scope: string, items: readonly OutputItem[], maxPayload: number): Packed[] {
  const budget = Number.isFinite(maxPayload) ? Math.max(1, maxPayload - HEADER_ROOM) : Infinity;
  const packed: Packed[] = [];
  const open = new Map<string, { lines: Array<{ traceparent: string | undefined; json: string }>; inputs: Inbound[]; bytes: number }>();
  const flush = (subject: string) => {
    const run = open.get(subject);
    if (!run) return;
    open.delete(subject);
    const from = run.inputs[0].seq;
    const through = run.inputs[run.inputs.length - 1].seq;
    packed.push({
      out: { subject, data: encodeEventBatch(run.lines), msgId: batchMsgId(scope, subject, from, through), headers: { [EVENTS_HEADER]: String(run.lines.length) } },
      batch: run.inputs,
    });
  };
  for (const item of items) {
    const { subject } = item.out;
    if (!item.batched || !item.input) {
      flush(subject);
      packed.push({ out: item.out, input: item.input });
      continue;
    }
    const json = textOf(item.out.data);
    // Counted, not encoded: the body is encoded once, by encodeEventBatch.
    const size = Buffer.byteLength(json, "utf8") + LINE_OVERHEAD;
    let run = open.get(subject);
    // A line over the budget alone still goes out alone (the handler checked it fits max_payload).
    if (run && run.bytes + size > budget) {
      flush(subject);
      run = undefined;
    }
    if (!run) open.set(subject, (run = { lines: [], inputs: [], bytes: 0 }));
    run.lines.push({ traceparent: item.traceparent, json });
    run.inputs.push(item.input);
    run.bytes += size;
  }
  for (const subject of [...open.keys()]) flush(subject);
  return packed;
}

/**
 * The inputs an interrupted run already stored in batches after the checkpoint: per subject, the
 * RAW ranges the batch ids name. An input of a subject inside a stored range was in that batch
 * (a task's handler batch is a contiguous run of its messages), so the replay skips it.
 */
export class StoredBatches {
  private readonly ranges = new Map<string, Array<{ from: number; through: number }>>();
  /** The highest RAW sequence any stored batch holds; past it nothing is skipped. */
  private highest = 0;
  /** The output stream's sequence of the last stored batch seen. */
  lastSeq = 0;

  get highestSeq(): number {
    return this.highest;
  }

  get isEmpty(): boolean {
    return this.highest === 0;
  }

  add(subject: string, msgId: string | undefined, seq: number): void {
    this.lastSeq = Math.max(this.lastSeq, seq);
    const range = rawRangeOfBatchId(msgId);
    if (!range) return;
    const list = this.ranges.get(subject);
    if (list) list.push(range);
    else this.ranges.set(subject, [range]);
    this.highest = Math.max(this.highest, range.through);
  }

  /** Whether the event `input` produced on `subject` is already stored. */
  holds(subject: string, input: Inbound): boolean {
    if (input.seq > this.highest) return false;
    return this.ranges.get(subject)?.some((r) => input.seq >= r.from && input.seq <= r.through) ?? false;
  }

  /**
   * Reads `stream`'s messages on `filter` after sequence `after`, headers only, up to its end at
   * the time of the call.
   */
  static async read(nc: NatsConnection, stream: string, filter: string, after: number, signal: AbortSignal): Promise<StoredBatches> {
    const stored = new StoredBatches();
    stored.lastSeq = after;
    const jsm = await withDeadline(() => jetstreamManager(nc), { what: `JetStream manager for ${stream}`, signal });
    const info = await withDeadline(() => jsm.streams.info(stream), { what: `stream ${stream} info`, signal });
    const end = info.state.last_seq;
    if (end <= after) return stored;
    const consumer = await withDeadline(() => jetstream(nc).consumers.get(stream, {
      filter_subjects: filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, after + 1),
      headers_only: true,
    }), { what: `headers-only consumer on ${stream} ${filter}`, signal });
    // fetch, not consume: when no message after `after` matches the filter, an empty fetch ends
    // the read. Each fetch has its deadline, not the whole read: a long stream (a task without a
    // checkpoint reads its subjects from the start) takes as long as it takes.
    for (;;) {
      const fetched = await withDeadline(async () => {
        const messages = await consumer.fetch({ max_messages: 1_000, expires: 1_000 });
        let got = 0;
        let caughtUp = false;
        for await (const m of messages) {
          got++;
          if (m.headers?.get(EVENTS_HEADER)) stored.add(m.subject, m.headers.get(HEADERS.msgId), m.seq);
          if (m.seq >= end || m.info.pending === 0) caughtUp = true;
        }
        return { got, caughtUp };
      }, { what: `read ${stream} ${filter} batches after sequence ${after}`, signal, timeoutMs: 30_000 });
      if (fetched.got === 0 || fetched.caughtUp || signal.aborted) break;
    }
    return stored;
  }
}
