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
