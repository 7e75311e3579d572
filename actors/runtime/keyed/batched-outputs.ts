import { Buffer } from "node:buffer";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { withDeadline } from "../../../nats/deadline.ts";
import { batchMsgId, decodeInputSeqs, encodeEventBatch, EVENTS_HEADER, INPUT_SEQS_HEADER, InputSeqsWriter, rawRangeOfBatchId } from "../../../subjects/event-batch.ts";
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

/** A message to publish: an output as it was, or a batch of events with the items it carries (to pack again what a refused publish still has to store). */
export type Packed = { readonly out: Outbound; readonly input: Inbound | undefined; readonly batch?: undefined } | { readonly out: Outbound; readonly input?: undefined; readonly batch: readonly Inbound[]; readonly items: readonly OutputItem[] };

/** Room left in a message for its headers (ids, counts, trace context), the input sequences aside. */
const HEADER_ROOM = 16_384;
/** Longest Sluice-Input-Seqs header: a run whose list would pass it is cut (a sparse source's sequences far apart). */
const MAX_INPUT_SEQS_CHARS = 8_192;
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
  const budget = Number.isFinite(maxPayload) ? Math.max(1, maxPayload - HEADER_ROOM - MAX_INPUT_SEQS_CHARS) : Infinity;
  const packed: Packed[] = [];
  const open = new Map<string, { lines: Array<{ traceparent: string | undefined; json: string }>; inputs: Inbound[]; items: OutputItem[]; seqs: InputSeqsWriter; bytes: number }>();
  const flush = (subject: string) => {
    const run = open.get(subject);
    if (!run) return;
    open.delete(subject);
    const from = run.inputs[0].seq;
    const through = run.inputs[run.inputs.length - 1].seq;
    packed.push({
      out: { subject, data: encodeEventBatch(run.lines), msgId: batchMsgId(scope, subject, from, through), headers: { [EVENTS_HEADER]: String(run.lines.length), [INPUT_SEQS_HEADER]: run.seqs.toString() } },
      batch: run.inputs,
      items: run.items,
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
    if (run && (run.bytes + size > budget || run.seqs.length > MAX_INPUT_SEQS_CHARS - 16)) {
      flush(subject);
      run = undefined;
    }
    if (!run) open.set(subject, (run = { lines: [], inputs: [], items: [], seqs: new InputSeqsWriter(), bytes: 0 }));
    run.lines.push({ traceparent: item.traceparent, json });
    run.inputs.push(item.input);
    run.items.push(item);
    run.seqs.add(item.input.seq);
    run.bytes += size;
  }
  for (const subject of [...open.keys()]) flush(subject);
  return packed;
}


/** A stored batch as a restore or a fence re-read saw it: the inputs it answers. */
interface StoredBatch {
  readonly subject: string;
  readonly from: number;
  readonly through: number;
  /** Its Sluice-Input-Seqs header; absent on batches written before it existed. */
  readonly inputSeqs: string | undefined;
  readonly seq: number;
  decoded?: Set<number>;
}

/**
 * The inputs that batches already on the output stream answer — stored by an interrupted run of
 * the task, or by a stalled former holder (see fence.ts) — so that they are not published again.
 * A batch names its inputs exactly (Sluice-Input-Seqs), whatever subject it is on; one written
 * before that header existed names the RAW range of its id, and then holds an input of its own
 * subject inside it (a task's handler batch is a contiguous run of its messages).
 */
export class StoredBatches {
  private entries: StoredBatch[] = [];
  private sorted = true;

  get isEmpty(): boolean {
    return this.entries.length === 0;
  }

  add(subject: string, msgId: string | undefined, inputSeqs: string | undefined, seq: number): void {
    const range = rawRangeOfBatchId(msgId);
    if (!range) return;
    const last = this.entries[this.entries.length - 1];
    if (last && last.from > range.from) this.sorted = false;
    this.entries.push({ subject, from: range.from, through: range.through, inputSeqs, seq });
  }

  /** Forgets the batches that end before `seq`: the task's inputs come in ascending order, so they can hold none of the next. */
  forgetBefore(seq: number): void {
    if (this.entries.length && this.entries.some((e) => e.through < seq)) this.entries = this.entries.filter((e) => e.through >= seq);
  }

  /**
   * Per subject, the stream sequence of its first stored batch that names an input after `seq`.
   * A checkpoint at `seq` must leave those batches to be read again by the next restore: the
   * replay reaches their inputs.
   */
  firstAfter(seq: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const e of this.entries) if (e.through > seq && e.seq < (out.get(e.subject) ?? Infinity)) out.set(e.subject, e.seq);
    return out;
  }

  /** Whether the event `input` produced on `subject` is already stored. */
  holds(subject: string, input: Inbound): boolean {
    if (!this.sorted) {
      this.entries.sort((a, b) => a.from - b.from);
      this.sorted = true;
    }
    for (const e of this.entries) {
      if (e.from > input.seq) break;
      if (input.seq > e.through) continue;
      if (e.inputSeqs === undefined) {
        if (e.subject === subject) return true;
        continue;
      }
      e.decoded ??= new Set(decodeInputSeqs(e.inputSeqs, e.subject, e.seq));
      if (e.decoded.has(input.seq)) return true;
    }
    return false;
  }

  /**
   * Reads `stream`'s messages on one subject after sequence `after` (headers only), until one at
   * `until` or later has been seen or none is left; adds the batches among them. Returns the
   * highest sequence seen on the subject (`after` when none).
   */
  async readSubject(nc: NatsConnection, stream: string, subject: string, after: number, until: number, signal: AbortSignal): Promise<number> {
    let highest = after;
    const consumer = await withDeadline(() => jetstream(nc).consumers.get(stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, after + 1),
      headers_only: true,
    }), { what: `headers-only consumer on ${stream} ${subject}`, signal });
    // fetch, not consume: an empty fetch ends the read. Each fetch has its deadline, not the whole
    // read: a long stream (a task without a checkpoint reads its subjects from the start) takes as long as it takes.
    for (;;) {
      const fetched = await withDeadline(async () => {
        const messages = await consumer.fetch({ max_messages: 1_000, expires: 1_000 });
        let got = 0;
        let caughtUp = false;
        for await (const m of messages) {
          got++;
          highest = Math.max(highest, m.seq);
          if (m.headers?.get(EVENTS_HEADER)) this.add(m.subject, m.headers.get(HEADERS.msgId), m.headers.get(INPUT_SEQS_HEADER) || undefined, m.seq);
          if (m.seq >= until || m.info.pending === 0) caughtUp = true;
        }
        return { got, caughtUp };
      }, { what: `read ${stream} ${subject} after sequence ${after}`, signal, timeoutMs: 30_000 });
      if (fetched.got === 0 || fetched.caughtUp || signal.aborted) break;
    }
    return highest;
  }
}

/** Whether a NATS subject matches a filter with `*` and `>` wildcards. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length || (f[i] !== "*" && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}
