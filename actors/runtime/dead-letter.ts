import { HEADERS, subject as subjects } from "../../subjects/catalog.ts";
import type { Outbound } from "./actor.ts";
import type { HeaderSource } from "./delivery.ts";
import { fitBody } from "./size.ts";

/** The message that failed, wherever it was read from: a delivery in hand or the stream by sequence. */
export interface FailedMessage {
  readonly actor: string;
  readonly stream: string;
  readonly subject: string;
  readonly seq: number;
  /** The event's place in its batch message (subjects/event-batch.ts); undefined for a single-event message. */
  readonly index?: number;
  readonly deliveries: number;
  readonly headers: HeaderSource | undefined;
  readonly data: Uint8Array;
}

/**
 * The dead letter's `Nats-Msg-Id`. Every path that dead-letters a message (the handler's reject,
 * max_deliver in the handler, the max_deliver advisory, several instances hearing one advisory)
 * names it the same, so DLQ stores it once within its duplicate window.
 */
export function deadLetterMsgId(actor: string, stream: string, seq: number, index?: number): string {
  return index === undefined ? `dlq:${actor}:${stream}:${seq}` : `dlq:${actor}:${stream}:${seq}:${index}`;
}

/** The source token of `<kind>.<source>.…` subjects (raw, events), which names the DLQ subject. */
function sourceOf(subject: string): string {
  const [, source] = subject.split(".");
  return source || "unknown";
}

/**
 * The one dead-letter format: the original body (cut to fit `maxPayload`) and headers, plus
 * `Sluice-*` headers saying who gave up on which message, when, and why.
 */
export function buildDeadLetter(failed: FailedMessage, code: string, reason: string, maxPayload: number, nowMs = Date.now()): Outbound {
  const out: Record<string, string> = {};
  if (failed.headers) for (const key of failed.headers.keys()) out[key] = failed.headers.get(key);
  // Kept apart: the dead letter has its own Nats-Msg-Id, and a replay must carry the original again.
  if (out[HEADERS.msgId]) out[HEADERS.originalMsgId] = out[HEADERS.msgId];
  delete out[HEADERS.msgId];
  Object.assign(out, {
    [HEADERS.reason]: reason.replace(/[\r\n]+/g, " "),
    [HEADERS.errorCode]: code,
    [HEADERS.actor]: failed.actor,
    [HEADERS.originalSubject]: failed.subject,
    [HEADERS.originalStream]: failed.stream,
    [HEADERS.streamSequence]: String(failed.seq),
    ...(failed.index !== undefined ? { [HEADERS.eventIndex]: String(failed.index) } : {}),
    [HEADERS.deliveries]: String(failed.deliveries),
    [HEADERS.failedAt]: new Date(nowMs).toISOString(),
  });
  const data = fitBody(failed.data, out, maxPayload);
  if (data !== failed.data) out[HEADERS.truncated] = String(failed.data.length);
  return {
    subject: subjects.dlq(failed.actor, sourceOf(failed.subject)),
    data,
    msgId: deadLetterMsgId(failed.actor, failed.stream, failed.seq, failed.index),
    headers: out,
  };
}

/**
 * The last handler error per stream sequence, for the dead letter of a message whose final
 * delivery ended without one (a crash, a shutdown, an ack_wait expiry). Bounded: the oldest
 * entry goes first, so a flood of failures cannot grow memory.
 */
export class LastErrors {
  private readonly bySeq = new Map<number, string>();
  private readonly limit: number;
  constructor(limit = 10_000) {
    this.limit = limit;
  }

  get size(): number {
    return this.bySeq.size;
  }

  record(seq: number, error: string): void {
    this.bySeq.delete(seq);
    this.bySeq.set(seq, error);
    if (this.bySeq.size > this.limit) this.bySeq.delete(this.bySeq.keys().next().value!);
  }

  get(seq: number): string | undefined {
    return this.bySeq.get(seq);
  }

  forget(seq: number): void {
    this.bySeq.delete(seq);
  }
}
