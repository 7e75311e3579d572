/**
 * Acked JetStream publishes without a request per message. `js.publish` is a core request: a
 * reply subscription slot, a timer, and — in `RequestOne.cancel()`, after every *successful*
 * answer — a `RequestError` built with its stack. At tens of thousands of PubAcks a second that
 * is a measurable share of the process. Here every publish of a batch is a plain publish with a
 * reply subject under one inbox subscription; one sweep expires what the server did not answer.
 */

import { createInbox, headers as natsHeaders, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { PubHeaders, type PubAck } from "@nats-io/jetstream";
import { AbortedError, BrokerTimeoutError, DEFAULT_BROKER_TIMEOUT_MS } from "./deadline.ts";

/** JetStream answered a publish with an error (or nobody answered: no stream holds the subject). */
export class PublishRefusedError extends Error {
  readonly subject: string;
  /** JetStream's error code, e.g. 10077 (maximum messages exceeded); 503 when no stream answered. */
  readonly code: number;
  constructor(subject: string, code: number, description: string) {
    super(`publish to ${subject}: ${description} (${code})`);
    this.name = "PublishRefusedError";
    this.subject = subject;
    this.code = code;
  }
}

interface Waiter {
  readonly subject: string;
  readonly deadline: number;
  /** Seen past its deadline by one sweep: the next sweep rejects it if it is still unanswered. */
  overdue: boolean;
  resolve(ack: PubAck): void;
  reject(err: Error): void;
}

export interface PublishOptions {
  readonly headers?: MsgHdrs;
  /** Sets `Nats-Msg-Id`: JetStream drops a second message with the same id in its duplicate window. */
  readonly msgId?: string;
}

const decoder = new TextDecoder();

/**
 * Publishes to JetStream and resolves each publish with its PubAck, like `js.publish`.
 *
 * @example
 * const publisher = new AckedPublisher(nc, { what: "validate" });
 * const acks = await Promise.all(outputs.map((o) => publisher.publish(o.subject, o.data, { msgId: o.msgId })));
 * publisher.close();
 */
export class AckedPublisher {
  private readonly nc: NatsConnection;
  private readonly what: string;
  private readonly timeoutMs: number;
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly sweeper: ReturnType<typeof setInterval>;
  private readonly waiting = new Map<string, Waiter>();
  private readonly onAbort: (() => void) | undefined;
  private readonly signal: AbortSignal | undefined;
  private next = 0;
  private closed: Error | undefined;

  /** `signal` (optional) rejects every publish in flight, and later ones, when it aborts. */
  constructor(nc: NatsConnection, opts: { what: string; timeoutMs?: number; signal?: AbortSignal }) {
    this.nc = nc;
    this.what = opts.what;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_BROKER_TIMEOUT_MS;
    // Under the connection's inbox prefix: with NATS authorization each user may only subscribe to its own (auth/nats-permissions.ts).
    this.inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? this.failAll(err) : this.answer(msg.subject, msg.data, msg.headers)) });
    // Deadlines are in publish order, so a sweep stops at the first one not yet due.
    this.sweeper = setInterval(() => this.sweep(Date.now()), Math.min(1_000, Math.max(50, this.timeoutMs / 4)));
    this.sweeper.unref?.();
    this.signal = opts.signal;
    if (opts.signal) {
      this.onAbort = () => this.failAll(new AbortedError(`${this.what}: publish`));
      opts.signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  /** Messages published and not answered yet. */
  get inFlight(): number {
    return this.waiting.size;
  }

  publish(subject: string, data: Uint8Array | string, opts: PublishOptions = {}): Promise<PubAck> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.signal?.aborted) return Promise.reject(new AbortedError(`${this.what}: publish to ${subject}`));
    let h = opts.headers;
    if (opts.msgId) {
      h ??= natsHeaders();
      h.set(PubHeaders.MsgIdHdr, opts.msgId);
    }
    const token = (this.next++).toString(36);
    return new Promise<PubAck>((resolve, reject) => {
      this.waiting.set(token, { subject, deadline: Date.now() + this.timeoutMs, overdue: false, resolve, reject });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: h });
      } catch (err) {
        this.waiting.delete(token);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Stops listening; publishes still in flight are rejected (their messages may be stored). */
  close(): void {
    this.failAll(new Error(`${this.what}: publisher closed with publishes in flight`));
    clearInterval(this.sweeper);
    if (this.onAbort) this.signal?.removeEventListener("abort", this.onAbort);
    this.sub.unsubscribe();
  }

  private answer(subject: string, data: Uint8Array, hdrs: MsgHdrs | undefined): void {
    const token = subject.slice(this.inbox.length + 1);
    const waiter = this.waiting.get(token);
    if (!waiter) return; // answered after its deadline: already rejected
    this.waiting.delete(token);
    // A status message with no body: nobody is subscribed to the subject, i.e. no stream holds it.
    if (hdrs?.hasError) return waiter.reject(new PublishRefusedError(waiter.subject, hdrs.code, hdrs.description || "no stream answered"));
    let reply: { stream?: string; seq?: number; duplicate?: boolean; domain?: string; error?: { code: number; err_code?: number; description?: string } };
    try {
      reply = JSON.parse(decoder.decode(data)) as typeof reply;
    } catch {
      return waiter.reject(new PublishRefusedError(waiter.subject, 0, "the answer was not a PubAck"));
    }
    if (reply.error) return waiter.reject(new PublishRefusedError(waiter.subject, reply.error.err_code ?? reply.error.code, reply.error.description ?? "refused"));
    if (!reply.stream || typeof reply.seq !== "number") return waiter.reject(new PublishRefusedError(waiter.subject, 0, "the answer was not a PubAck"));
    waiter.resolve({ stream: reply.stream, seq: reply.seq, duplicate: reply.duplicate === true, ...(reply.domain ? { domain: reply.domain } : {}) });
  }

  /**
   * Rejects what was past its deadline at the previous sweep and is still unanswered. Timers run
   * before the event loop reads the socket: after the process was busy (a batch handled while
   * PubAcks arrived, a loaded machine), answers that came in time may still be unread when the
   * sweep runs. Waiting one more sweep, with a read of the socket in between, rejects only what
   * really had no answer.
   */
  private sweep(now: number): void {
    for (const [token, waiter] of this.waiting) {
      if (waiter.deadline > now) break;
      if (!waiter.overdue) {
        waiter.overdue = true;
        continue;
      }
      this.waiting.delete(token);
      waiter.reject(new BrokerTimeoutError(`${this.what}: publish to ${waiter.subject}`, this.timeoutMs));
    }
  }

  private failAll(err: Error): void {
    this.closed ??= err;
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiters) w.reject(err);
  }
}
