import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { withDeadline } from "../../../nats/deadline.ts";
import type { Logger } from "../actor.ts";

/**
 * How a task's ordered consumer asks for messages. The server sends a heartbeat every
 * {@link HEARTBEAT_MS} while a pull waits with nothing to deliver; two missed ones mean the
 * consumer is gone (an ordered consumer has one replica: it dies with its node). nats.js's
 * defaults (30 s pulls, 15 s heartbeats) notice that after 30 s and then only ask for the
 * consumer's info, which a dead node never answers, backing off up to the pull's 30 s between
 * tries: a task sat 45–50 s without reading after a SIGKILL on the test cluster.
 */
export const PULL_EXPIRES_MS = 10_000;
export const HEARTBEAT_MS = 2_000;
/** One try at creating the consumer; tried again until it is created or the task stops (an election takes a few seconds). */
const CREATE_TIMEOUT_MS = 3_000;
const CREATE_RETRY_MS = 500;

/** Status notifications after which the consumer is re-created (nats.js would only ask for its info). */
const LOST = new Set(["heartbeats_missed", "consumer_not_found", "consumer_deleted", "no_responders"]);

const SWITCH = Symbol("switch");

/**
 * A task's read of `filters` on `stream` after sequence `after`: an ordered consumer that is
 * created anew from the sequence after the last message it handed out whenever it goes silent
 * past its heartbeats, says it is gone, or ends without being closed. Same messages, same order,
 * no gap and no repeat: only the consumer under it changes.
 *
 * @example
 * const read = await OrderedRead.open(nc, { stream: "RAW", filters: ["raw.iot.>"], after: 41, name, maxMessages: 512, signal, log });
 * for await (const msg of read) handle(msg);
 * await read.close();
 */
export class OrderedRead implements AsyncIterable<JsMsg> {
  private readonly nc: NatsConnection;
  private readonly opts: OrderedReadOptions;
  private last: number;
  private current!: ConsumerMessages;
  private closed = false;
  /** Resolves when the current consumer should be replaced. */
  private lost!: Promise<typeof SWITCH>;
  private markLost!: () => void;
  private why = "";
  /** How often the consumer was re-created (for logs and tests). */
  recreated = 0;

  private constructor(nc: NatsConnection, opts: OrderedReadOptions) {
    this.nc = nc;
    this.opts = opts;
    this.last = opts.after;
  }

  static async open(nc: NatsConnection, opts: OrderedReadOptions): Promise<OrderedRead> {
    const read = new OrderedRead(nc, opts);
    await read.start(false);
    read.followConnection();
    return read;
  }

  private connection: { stop?(): void } | undefined;

  /**
   * After the client reconnected (its server died or hung), nats.js stops watching the heartbeats
   * and asks for the consumer's info until it answers, which it never does when the consumer died
   * with that server: a task sat 25 s unread that way. A reconnect re-creates the consumer.
   */
  private followConnection(): void {
    const status = this.nc.status();
    this.connection = status as { stop?(): void };
    void (async () => {
      for await (const s of status) {
        if (this.closed) return;
        if (s.type !== "reconnect") continue;
        this.why = "the client reconnected";
        this.markLost();
      }
    })().catch(() => undefined);
  }

  private async start(retry: boolean): Promise<void> {
    const { stream, filters, name, signal } = this.opts;
    for (let attempt = 1; ; attempt++) {
      try {
        // nats.js's default request timeout on purpose: a consumer the client re-creates itself (an
        // out-of-order delivery) is created outside any deadline, and retried on that timeout.
        const consumer = await withDeadline(() => jetstream(this.nc).consumers.get(stream, {
          // A lone filter as a string: nats.js sends an array only to servers from 2.10 on.
          filter_subjects: filters.length === 1 ? filters[0] : [...filters],
          ...(this.last > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.last + 1 } : { deliver_policy: DeliverPolicy.All }),
        }), { what: `${name}: ordered consumer on ${stream} ${filters.join(",")}`, signal, ...(retry ? { timeoutMs: CREATE_TIMEOUT_MS } : {}) });
        const messages = await withDeadline(() => consumer.consume({ max_messages: this.opts.maxMessages, expires: PULL_EXPIRES_MS, idle_heartbeat: HEARTBEAT_MS }), { what: `${name}: consume ${stream}`, signal });
        this.current = messages;
        this.lost = new Promise((resolve) => (this.markLost = () => resolve(SWITCH)));
        this.watch(messages);
        return;
      } catch (err) {
        if (!retry || signal.aborted || this.closed) throw err;
        if (attempt === 1 || attempt % 20 === 0) this.opts.log.warn(`${name}: could not re-create its ${stream} consumer after sequence ${this.last} (${(err as Error).message}); trying again`);
        await sleep(CREATE_RETRY_MS, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  private watch(messages: ConsumerMessages): void {
    void (async () => {
      for await (const s of messages.status()) {
        if (!LOST.has(s.type)) continue;
        this.why = s.type === "heartbeats_missed" ? `${(s as { count?: number }).count ?? 2} heartbeats missed` : s.type;
        this.markLost();
        return;
      }
    })().catch(() => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JsMsg> {
    const { name, stream, log, signal } = this.opts;
    while (!this.closed) {
      const messages = this.current;
      const iterator = messages[Symbol.asyncIterator]();
      for (;;) {
        const next = await Promise.race([iterator.next(), this.lost]);
        if (next === SWITCH) break;
        if (next.done) {
          if (this.closed || signal.aborted) return;
          this.why = "its consumer ended";
          break;
        }
        this.last = next.value.seq;
        yield next.value;
        if (this.closed) return;
      }
      // A message the old consumer still delivers is dropped: the new one starts right after the last handed out.
      void withDeadline(() => messages.close(), { what: `${name}: close the lost ${stream} consumer`, timeoutMs: 1_000 }).catch(() => undefined);
      if (this.closed || signal.aborted) return;
      this.recreated++;
      const since = Date.now();
      await this.start(true);
      log.info(`${name}: re-created its ${stream} consumer after sequence ${this.last} (${this.why}) in ${Date.now() - since} ms`);
    }
  }

  /** Stops reading; the iterator ends. */
  async close(): Promise<void> {
    this.closed = true;
    this.markLost?.();
    this.connection?.stop?.();
    // nats.js's close() resolves once its iterator has read to the end, which nobody does after
    // this read stopped asking; and a pull a stalled server never answers holds it too.
    if (this.current) await withDeadline(() => this.current.close(), { what: `${this.opts.name}: close the ${this.opts.stream} consumer`, timeoutMs: 1_000 }).catch(() => undefined);
  }
}

export interface OrderedReadOptions {
  readonly stream: string;
  readonly filters: readonly string[];
  /** The last sequence already handled: reading starts after it (0: from the stream's start). */
  readonly after: number;
  /** Named in logs and errors ("window p0"). */
  readonly name: string;
  readonly maxMessages: number;
  /** Ends every wait (the task's hard stop). */
  readonly signal: AbortSignal;
  readonly log: Logger;
}
