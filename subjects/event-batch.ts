// The EVENTS batch format: one JetStream message carrying many events. The contract between
// validate (the writer), the runtime's delivery decode (every reader) and the test harness.

/**
 * Header of a batch message: how many events its body holds. A message without it is one event
 * (data from before batching, dead-letter replays, `nats pub` into EVENTS), so both stay readable.
 */
export const EVENTS_HEADER = "Sluice-Events";

/** One event of a batch: its W3C traceparent (undefined when untraced) and its envelope JSON. */
export interface BatchedEvent {
  readonly traceparent: string | undefined;
  readonly data: Uint8Array;
}

/** A batch body or header that does not follow the format: names what is wrong, never event content. */
export class EventBatchError extends Error {
  constructor(subject: string, seq: number, problem: string) {
    super(`${subject} (seq ${seq}): not a valid ${EVENTS_HEADER} batch: ${problem}`);
    this.name = "EventBatchError";
  }
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
const NO_TRACE = "-";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The body of a batch: one line per event, `<traceparent|-> <envelope JSON>`. JSON.stringify
 * never writes a raw newline, so a line is exactly one event.
 */
export function encodeEventBatch(events: ReadonlyArray<{ readonly traceparent: string | undefined; readonly json: string }>): Uint8Array {
  let text = "";
  for (const e of events) text += `${e.traceparent ?? NO_TRACE} ${e.json}\n`;
  return encoder.encode(text);
}

/** The events of a batch body, each a view into `body` (no copy), in order. */
export function decodeEventBatch(body: Uint8Array, declared: number, subject: string, seq: number): BatchedEvent[] {
  const out: BatchedEvent[] = [];
  let start = 0;
  while (start < body.length) {
    let end = body.indexOf(NEWLINE, start);
    if (end < 0) end = body.length;
    const space = body.indexOf(SPACE, start);
    if (space < 0 || space >= end) throw new EventBatchError(subject, seq, `line ${out.length + 1} has no "<traceparent> " prefix`);
    const prefix = decoder.decode(body.subarray(start, space));
    out.push({ traceparent: prefix === NO_TRACE ? undefined : prefix, data: body.subarray(space + 1, end) });
    start = end + 1;
  }
  if (out.length !== declared) throw new EventBatchError(subject, seq, `the ${EVENTS_HEADER} header says ${declared} events, the body holds ${out.length}`);
  return out;
}

/** The number of events a message's `Sluice-Events` header declares, or undefined for a single-event message. */
export function declaredEvents(header: string | undefined, subject: string, seq: number): number | undefined {
  if (header === undefined || header === "") return undefined;
  const n = Number(header);
  if (!Number.isInteger(n) || n < 1) throw new EventBatchError(subject, seq, `${EVENTS_HEADER} must be a positive integer`);
  return n;
}

/**
 * The batch's `Nats-Msg-Id`: the writing task's scope, the subject and the first and last RAW
 * sequence of its events. A redelivered or replayed RAW batch cut the same way gets the same id,
 * and JetStream's duplicate window drops it.
 */
export function batchMsgId(scope: string, subject: string, fromRawSeq: number, throughRawSeq: number): string {
  return `${scope}:${subject}:${fromRawSeq}-${throughRawSeq}`;
}

/** The RAW range a batch id names, or undefined for any other id (a single event's). */
export function rawRangeOfBatchId(msgId: string | undefined): { readonly from: number; readonly through: number } | undefined {
  if (!msgId) return undefined;
  const m = /:(\d+)-(\d+)$/.exec(msgId);
  if (!m) return undefined;
  return { from: Number(m[1]), through: Number(m[2]) };
}

/**
 * Header of a batch message: the input stream sequences of its events, so a reader knows exactly
 * which inputs a stored batch answers whatever subject it is on (after a change of the partition
 * count an input's event moves to another subject). Base-36 tokens separated by commas: the
 * first is the first sequence, each next one a step `d` from the previous, or `d*n` for n equal
 * steps. A contiguous run is two tokens (`1k,1*rr`).
 */
export const INPUT_SEQS_HEADER = "Sluice-Input-Seqs";

/** Builds an {@link INPUT_SEQS_HEADER} value one ascending sequence at a time; `length` is what it would take now. */
export class InputSeqsWriter {
  private text = "";
  private last = 0;
  private step = 0;
  private steps = 0;
  private count = 0;

  add(seq: number): void {
    if (this.count++ === 0) this.text = seq.toString(36);
    else if (seq - this.last === this.step) this.steps++;
    else {
      this.text += this.pendingToken();
      this.step = seq - this.last;
      this.steps = 1;
    }
    this.last = seq;
  }

  get length(): number {
    return this.text.length + this.pendingToken().length;
  }

  toString(): string {
    return this.text + this.pendingToken();
  }

  private pendingToken(): string {
    if (this.steps === 0) return "";
    return this.steps === 1 ? `,${this.step.toString(36)}` : `,${this.step.toString(36)}*${this.steps.toString(36)}`;
  }
}

const BASE36 = /^[0-9a-z]+$/;

/** The sequences an {@link INPUT_SEQS_HEADER} value lists, ascending. */
export function decodeInputSeqs(value: string, subject: string, seq: number): number[] {
  const out: number[] = [];
  const bad = (token: string) => new EventBatchError(subject, seq, `${INPUT_SEQS_HEADER} token "${token.slice(0, 20)}" is not <base36> or <base36>*<base36>`);
  for (const token of value.split(",")) {
    const [stepText, repeatText, extra] = token.split("*");
    if (!BASE36.test(stepText) || extra !== undefined || (repeatText !== undefined && !BASE36.test(repeatText))) throw bad(token);
    const step = parseInt(stepText, 36);
    if (out.length === 0) {
      if (repeatText !== undefined) throw bad(token);
      out.push(step);
      continue;
    }
    // A step of 0: two events of one input message (a reader of batches that batches again).
    if (step < 0) throw bad(token);
    const repeat = repeatText === undefined ? 1 : parseInt(repeatText, 36);
    for (let i = 0; i < repeat; i++) out.push(out[out.length - 1] + step);
  }
  return out;
}
