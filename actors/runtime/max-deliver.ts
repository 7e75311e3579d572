import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { JetStreamManager, PubAck } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";
import { setTimeout as sleep } from "node:timers/promises";
import { subject as subjects } from "../../subjects/catalog.ts";
import type { ConsumerDefinition } from "../../subjects/consumers.ts";
import { withDeadline } from "../../nats/deadline.ts";
import type { Logger, Outbound } from "./actor.ts";
import { buildDeadLetter, type LastErrors } from "./dead-letter.ts";
import { eventsOrWhole } from "./delivery.ts";
import { describeError } from "./errors.ts";
import type { ActorMetrics } from "./metrics.ts";

/** The fields sluice reads from `io.nats.jetstream.advisory.v1.max_deliver`. */
export interface MaxDeliveryAdvisory {
  readonly seq: number;
  readonly deliveries: number;
}

export function parseMaxDeliveryAdvisory(data: Uint8Array): MaxDeliveryAdvisory | undefined {
  try {
    const body = JSON.parse(new TextDecoder().decode(data)) as { stream_seq?: unknown; deliveries?: unknown };
    if (!Number.isSafeInteger(body.stream_seq) || (body.stream_seq as number) < 1) return undefined;
    return { seq: body.stream_seq as number, deliveries: Number.isSafeInteger(body.deliveries) ? (body.deliveries as number) : 0 };
  } catch {
    return undefined;
  }
}

export interface MaxDeliveryOptions {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly actor: string;
  readonly def: ConsumerDefinition;
  readonly lastErrors: LastErrors;
  /** The runtime's publish (trace context, deadline); `original` are the stored message's headers, for the trace parent. */
  readonly publish: (out: Outbound, original: MsgHdrs | undefined) => Promise<PubAck>;
  readonly metrics: ActorMetrics;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

export interface MaxDeliveryListener {
  /** Stops listening and waits (bounded) for dead letters being written. */
  stop(): Promise<void>;
}

const ATTEMPTS = 3;
/** Shutdown waits this long for dead letters being written; the other instances heard the same advisory. */
const STOP_WAIT_MS = 5_000;

/**
 * Dead-letters the messages JetStream stops delivering without the handler having failed on
 * the last delivery: it crashed, shut down, or took longer than ack_wait. JetStream announces
 * each one once, on a core subject, to whoever listens then; every running instance listens, and
 * the shared dead-letter id stores the message once however many of them write it.
 *
 * Subscribe before consuming: the server decides a message is exhausted when it would redeliver
 * it, i.e. on a pull, so an instance that pulls has already heard the advisory it triggers.
 */
export async function listenForMaxDeliveries(opts: MaxDeliveryOptions): Promise<MaxDeliveryListener> {
  const { nc, jsm, actor, def, log, metrics } = opts;
  const writing = new Set<Promise<void>>();

  const write = async (advisory: MaxDeliveryAdvisory): Promise<void> => {
    const where = `${actor}: stream ${def.stream} seq ${advisory.seq}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const stored = await withDeadline(jsm.streams.getMessage(def.stream, { seq: advisory.seq }), { what: `${where}: read the message that reached max_deliver` });
        if (!stored) {
          log.error(`${where} reached max_deliver but is no longer in the stream (removed by its limits); nothing left to dead-letter`);
          return;
        }
        const recorded = opts.lastErrors.get(advisory.seq);
        const reason = recorded
          ? `gave up after ${advisory.deliveries} deliveries (max_deliver ${def.max_deliver}); the last one ended without a handler error (a crash, a shutdown or more than ack_wait); last error: ${recorded}`
          : `reached max_deliver ${def.max_deliver} after ${advisory.deliveries} deliveries with no handler error recorded by this process: the deliveries ended by a crash, a shutdown or a handler slower than ack_wait (${def.ack_wait / 1e9} s)`;
        // A batch message is dead-lettered event by event, each under its own id (its index).
        const events = eventsOrWhole(stored.subject, advisory.seq, stored.header, stored.data);
        const acks = await Promise.all(events.map((e) => opts.publish(buildDeadLetter(
          { actor, stream: def.stream, subject: stored.subject, seq: advisory.seq, index: e.index, deliveries: advisory.deliveries, headers: e.headers, data: e.data },
          "max_deliver",
          reason,
          nc.info?.max_payload ?? Infinity,
        ), stored.header)));
        for (const ack of acks) if (!ack.duplicate) metrics.deadLettered++;
        metrics.lastProgressAt = Date.now();
        opts.lastErrors.forget(advisory.seq);
        return;
      } catch (err) {
        if (attempt >= ATTEMPTS) {
          log.error(`${where} reached max_deliver; its dead letter could not be written after ${ATTEMPTS} attempts (${describeError(err)}); another instance that heard the advisory may have written it`);
          return;
        }
        log.warn(`${where}: writing its max_deliver dead letter failed (${describeError(err)}); retrying`);
        // Not cut short by the abort: the advisory is not repeated, so a shutdown must not lose it.
        await sleep(500 * 2 ** attempt);
      }
    }
  };

  const sub: Subscription = nc.subscribe(subjects.maxDeliveriesAdvisory(def.stream, def.durable_name), {
    callback: (err, msg) => {
      if (err) {
        log.error(`${actor}: the max_deliver advisory subscription failed (${describeError(err)}); messages that reach max_deliver without a handler error will not be dead-lettered by this instance`);
        return;
      }
      const advisory = parseMaxDeliveryAdvisory(msg.data);
      if (!advisory) {
        log.warn(`${actor}: ignored a max_deliver advisory on ${msg.subject} without a stream_seq`);
        return;
      }
      const task = write(advisory).finally(() => writing.delete(task));
      writing.add(task);
    },
  });
  try {
    await withDeadline(nc.flush(), { what: `${actor}: subscribe to max_deliver advisories`, signal: opts.signal });
  } catch (err) {
    sub.unsubscribe();
    throw err;
  }
  return {
    async stop() {
      sub.unsubscribe();
      if (!writing.size) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), STOP_WAIT_MS)));
      const outcome = await Promise.race([Promise.allSettled([...writing]), late]);
      clearTimeout(timer);
      if (outcome === "late") log.error(`${actor}: ${writing.size} max_deliver dead letters still being written at stop`);
    },
  };
}
