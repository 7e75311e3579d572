import { context, SpanStatusCode, trace, type Span, type Tracer } from "@opentelemetry/api";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JsMsg, type PubAck } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureConsumer } from "../../subjects/setup.ts";
import { consumerConfig } from "../../subjects/consumers.ts";
import { injectContext } from "../../otel/propagation.ts";
import { DEFAULT_BROKER_TIMEOUT_MS, withDeadline } from "../../nats/deadline.ts";
import { AckedPublisher } from "../../nats/publish.ts";
import type { ActorContext, ActorDefinition, Inbound, Logger, Outbound, ServiceProvider } from "./actor.ts";
import { batches } from "./batches.ts";
import { eventCount } from "./delivery.ts";
import { buildDeadLetter, LastErrors } from "./dead-letter.ts";
import { describeError, isRetryable, PoisonError, type RetryableError } from "./errors.ts";
import { MinHeap } from "./heap.ts";
import { listenForMaxDeliveries, type MaxDeliveryListener } from "./max-deliver.ts";
import { consumerPosition, judgeStuck, metricsFor, STUCK_AFTER_ACK_WAITS } from "./metrics.ts";
import { handleIsolating, type Isolated, type Plan } from "./plan.ts";
import { processSpan, startBatchSpan, startStoredSpan, track, type Tracked } from "./spans.ts";
import { wireSize } from "./size.ts";
import { startContext } from "./start.ts";
import { HEARTBEAT_MS, PULL_EXPIRES_MS } from "./keyed/ordered-read.ts";

export interface RuntimeDeps {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** Tracer per actor (service.name per actor); defaults to the global API tracer. */
  readonly tracerFor?: (actor: string) => Tracer;
  readonly signal: AbortSignal;
  /** Process-wide services the actors declared in `needs` (StartContext.use). */
  readonly services?: ServiceProvider;
}

/** Publishing a handler's output failed: nothing of the batch was acked; the actor restarts. */
export class PublishError extends Error {
  constructor(actor: string, failed: number, total: number, cause: unknown) {
    super(`${actor}: ${failed} of ${total} outputs were not stored by JetStream (${describeError(cause)}); inputs stay unacked and will be redelivered`, { cause });
    this.name = "PublishError";
  }
}

/** How long one publish may wait for its PubAck; the batch fails (and is redelivered) after that. */
const PUBLISH_TIMEOUT_MS = DEFAULT_BROKER_TIMEOUT_MS;

/** A batch's events grouped by the message that carries them, in delivery order. */
function byMessage(items: readonly Tracked[]): Tracked[][] {
  const groups: Tracked[][] = [];
  for (const t of items) {
    const last = groups[groups.length - 1];
    if (last && last[0].msg === t.msg) last.push(t);
    else groups.push([t]);
  }
  return groups;
}

function backoffMs(attempt: number, baseMs: number): number {
  return Math.min(30_000, baseMs * 2 ** Math.min(attempt, 10));
}

/**
 * Runs one actor until `signal` aborts or it fails. Order of a batch: handle (a failing message
 * is isolated by bisection) → publish outputs (await every PubAck) → publish dead letters →
 * term / nak / ack. A message is never acked before what it produced is stored. A message
 * JetStream stops delivering at max_deliver without a handler error is dead-lettered from the
 * max_deliver advisory.
 */
export async function runActor(actor: ActorDefinition, deps: RuntimeDeps): Promise<void> {
  const { nc, log, signal } = deps;
  const tracer = deps.tracerFor?.(actor.name) ?? trace.getTracer(`sluice-${actor.name}`);
  const metrics = metricsFor(actor.name);
  const def = actor.consumes;
  // Registered before the first await: `/metrics` then knows this process reads the consumer.
  const position = consumerPosition({ actor: actor.name, stream: def.stream, consumer: def.durable_name, wholeStream: consumerConfig(def).filter_subject === undefined });
  const js: JetStreamClient = jetstream(nc);
  const ackWaitMs = def.ack_wait / 1_000_000;
  const lastErrors = new LastErrors();
  const held = new MinHeap<Tracked>();
  let inFlight: Tracked[] = [];
  let heldShown = 0;
  const showHeld = () => {
    metrics.held += held.size - heldShown;
    heldShown = held.size;
  };
  const progressed = () => void (metrics.lastProgressAt = Date.now());

  // Honours the timeout but not the abort: on shutdown the batch in hand finishes (bounded by the
  // timeout) rather than leaving outputs half-published for the redelivery to repeat.
  const publisher = new AckedPublisher(nc, { what: actor.name, timeoutMs: PUBLISH_TIMEOUT_MS });
  const publish = (out: Outbound, span: Span | undefined): Promise<PubAck> => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(out.headers ?? {})) h.set(k, v);
    if (span) injectContext(h, trace.setSpan(context.active(), span));
    else injectContext(h);
    return publisher.publish(out.subject, out.data, { headers: h, msgId: out.msgId });
  };

  const publishForStored = async (out: Outbound, original: MsgHdrs | undefined): Promise<PubAck> => {
    const span = startStoredSpan(tracer, `${actor.name} max_deliver`, original, { "sluice.actor": actor.name, "messaging.nats.stream": def.stream });
    try {
      return await publish(out, span);
    } finally {
      span.end();
    }
  };

  const deadLetter = (t: Tracked, code: string, reason: string) =>
    publish(buildDeadLetter(
      { actor: actor.name, stream: def.stream, subject: t.msg.subject, seq: t.inbound.seq, index: t.inbound.index, deliveries: t.msg.info.deliveryCount, headers: t.headers, data: t.inbound.data },
      code,
      reason,
      nc.info?.max_payload ?? Infinity,
    ), processSpan(tracer, actor.name, def, t));

  const finish = async (items: Tracked[], plan: Plan) => {
    const byInbound = new Map(items.map((t) => [t.inbound, t] as const));
    // An output over the server's max_payload can never be stored: dead-letter its input instead
    // of failing (and endlessly retrying) the whole batch.
    const maxPayload = nc.info?.max_payload ?? Infinity;
    for (const [inbound, outs] of plan.bound) {
      const big = outs.find((o) => wireSize(o) > maxPayload);
      if (!big) continue;
      plan.bound.delete(inbound);
      plan.rejected.set(inbound, new PoisonError("too_large", `${inbound.subject} (stream ${inbound.stream} seq ${inbound.seq}): its output on ${big.subject} would be about ${wireSize(big)} bytes, over the server's max_payload of ${maxPayload}`));
    }
    const outputs: Array<Promise<unknown>> = [];
    for (const [inbound, outs] of plan.bound) {
      const t = byInbound.get(inbound);
      for (const out of outs) outputs.push(publish(out, t && processSpan(tracer, actor.name, def, t)));
    }
    for (const out of plan.unbound) outputs.push(publish(out, undefined));

    const deadLetters: Array<{ t: Tracked; code: string; reason: string }> = [];
    for (const [inbound, err] of plan.rejected) deadLetters.push({ t: byInbound.get(inbound)!, code: err.code, reason: err.message });
    const exhausted = new Set<Inbound>();
    for (const [inbound, err] of plan.retried) {
      if (def.max_deliver > 0 && inbound.deliveries >= def.max_deliver) {
        exhausted.add(inbound);
        deadLetters.push({ t: byInbound.get(inbound)!, code: "max_deliver", reason: `gave up after ${inbound.deliveries} deliveries (max_deliver ${def.max_deliver}); last error: ${describeError(err)}` });
      }
    }
    const letters = deadLetters.map((d) => deadLetter(d.t, d.code, d.reason));

    const results = await Promise.allSettled([...outputs, ...letters]);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failures.length) throw new PublishError(actor.name, failures.length, results.length, failures[0].reason);
    metrics.emitted += outputs.length;
    metrics.deadLettered += results.slice(outputs.length).filter((r) => !(r as PromiseFulfilledResult<PubAck>).value.duplicate).length;

    // Each event's fate, then its message's: a message carrying a batch is acked once every event
    // in it is decided. One event to retry redelivers its whole message (the others' outputs are
    // published again under the same ids, which JetStream drops); one to hold holds it.
    for (const events of byMessage(items)) {
      const msg = events[0].msg;
      let retryDelay: number | undefined;
      let retryError: Error | undefined;
      let holdUntil: number | undefined;
      let heldEvent: Tracked | undefined;
      let terminated = 0;
      for (const t of events) {
        const rejected = plan.rejected.get(t.inbound);
        const retry = plan.retried.get(t.inbound);
        if (rejected || exhausted.has(t.inbound)) {
          terminated++;
          const span = processSpan(tracer, actor.name, def, t);
          span.setStatus({ code: SpanStatusCode.ERROR, message: rejected?.message ?? "max_deliver exhausted" });
          span.end();
        } else if (retry) {
          const delay = isRetryable(retry) ? retry.delayMs : backoffMs(t.inbound.deliveries - 1, 500);
          retryDelay = Math.max(retryDelay ?? 0, delay);
          retryError ??= retry;
          metrics.retried++;
          const span = processSpan(tracer, actor.name, def, t);
          span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(retry) });
          span.end();
        } else if (plan.held.has(t.inbound)) {
          const until = plan.held.get(t.inbound)!;
          if (holdUntil === undefined || until > holdUntil) [holdUntil, heldEvent] = [until, t];
        } else {
          metrics.acked++;
          t.span?.end();
        }
      }
      if (retryError) {
        // Remembered for the max_deliver advisory, should the next delivery end without an error.
        lastErrors.record(msg.seq, describeError(retryError));
        msg.nak(retryDelay);
      } else if (heldEvent) {
        held.push(holdUntil!, heldEvent);
      } else {
        // No reason argument: `+TERM <reason>` needs nats-server 2.10.4; 2.9 ignores it and redelivers.
        if (terminated === events.length) msg.term();
        else msg.ack();
        lastErrors.forget(msg.seq);
        progressed();
      }
    }
    if (plan.release !== undefined) {
      for (const t of held.popUpTo(plan.release)) {
        t.msg.ack();
        lastErrors.forget(t.msg.seq);
        metrics.acked++;
        progressed();
        t.span?.end();
      }
    }
    showHeld();
  };

  /** Runs the handler until it completes or fails for good; a RetryableError holds the batch and tries again. */
  const decide = async (items: Tracked[], handle: (batch: readonly Inbound[], ctx: ActorContext) => void | Promise<void>, batchSpan: Span): Promise<Isolated> => {
    const inputs = items.map((t) => t.inbound);
    for (let attempt = 0; ; attempt++) {
      try {
        return await context.with(trace.setSpan(context.active(), batchSpan), () => handleIsolating(inputs, handle, log));
      } catch (err) {
        if (!isRetryable(err) || signal.aborted) throw err;
        metrics.batchRetries++;
        const delay = Math.min(backoffMs(attempt, (err as RetryableError).delayMs), ackWaitMs / 3);
        if (attempt === 0 || attempt % 10 === 0) log.warn(`${actor.name}: ${describeError(err)}; holding ${items.length} messages and retrying in ${delay} ms`);
        for (const events of byMessage(items)) events[0].msg.working();
        await sleep(delay, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) throw err;
      }
    }
  };

  const step = async (items: Tracked[], handle: (batch: readonly Inbound[], ctx: ActorContext) => void | Promise<void>) => {
    const batchSpan = startBatchSpan(tracer, actor.name, def, items);
    try {
      const { plan, failed, firstError } = await decide(items, handle, batchSpan);
      if (firstError) {
        metrics.errors += Math.max(1, failed.size);
        const seqs = [...failed.keys()].slice(0, 10).map((m) => m.seq);
        const which = items.length ? `${failed.size} of ${items.length} messages (stream ${def.stream} seq ${seqs.join(", ")}${failed.size > seqs.length ? ", …" : ""})` : "a tick";
        const rest = items.length > failed.size ? "; the rest of the batch proceeds" : "";
        log.error(`${actor.name}: handler failed on ${which}: ${describeError(firstError)}${rest}`);
      }
      for (const [input, err] of failed) plan.retried.set(input, err);
      await finish(items, plan);
    } finally {
      batchSpan.end();
    }
  };

  metrics.stuckAfterMs = STUCK_AFTER_ACK_WAITS * ackWaitMs;
  judgeStuck(metrics, Date.now());
  let advisories: MaxDeliveryListener | undefined;
  let messages: ConsumerMessages;
  try {
    const jsm = await withDeadline(jetstreamManager(nc), { what: `${actor.name}: JetStream manager`, signal });
    // A consumer without max_deliver (the sinks wait out outages) never gets the advisory.
    if (def.max_deliver > 0) advisories = await listenForMaxDeliveries({ nc, jsm, actor: actor.name, def, lastErrors, publish: publishForStored, metrics, log, signal });
    // From the create's answer, not `consumers.get` (a `consumer info`: see consumerConfig).
    const info = await withDeadline(ensureConsumer(jsm, def), { what: `${actor.name}: ensure consumer ${def.stream}/${def.durable_name}`, signal });
    position.deliveredSeq = Math.max(position.deliveredSeq, info.delivered.stream_seq);
    position.pending = info.num_pending;
    const consumer = js.consumers.getConsumerFromInfo(info);
    // Short pulls with frequent heartbeats: a pull left on a consumer leader that died is noticed in
    // seconds, not after nats.js's 30 s (see ordered-read.ts); the consumer's next leader then answers.
    const starting = consumer.consume({ max_messages: Math.min(def.max_ack_pending, Math.max(actor.batch.max_messages * 2, 256)), expires: PULL_EXPIRES_MS, idle_heartbeat: HEARTBEAT_MS });
    messages = await withDeadline(starting, { what: `${actor.name}: start consuming ${def.stream}/${def.durable_name}`, signal }).catch((err: unknown) => {
      // A consume that starts after its deadline would pull with no one reading it.
      void starting.then((late) => late.close()).catch(() => undefined);
      throw err;
    });
  } catch (err) {
    await advisories?.stop();
    publisher.close();
    if (signal.aborted) return;
    throw err;
  }

  // Batches and ticks take turns; a failed turn must not poison the turns after it.
  let lock: Promise<void> = Promise.resolve();
  const serial = (fn: () => Promise<void>): Promise<void> => {
    const turn = lock.then(fn);
    lock = turn.catch(() => undefined);
    return turn;
  };
  const housekeeping = setInterval(() => {
    for (const t of held.values()) t.msg.working();
    judgeStuck(metrics, Date.now());
  }, Math.max(1_000, ackWaitMs / 3));

  let tickError: unknown;
  // A failed tick (its output could not be stored) ends the consume loop, so the supervisor
  // restarts the actor now rather than at the next message.
  const ticker = actor.tick
    ? setInterval(() => {
        serial(() => step([], (_batch, ctx) => actor.tick!.handle(Date.now(), ctx))).catch((err) => {
          tickError ??= err;
          void messages.close();
        });
      }, actor.tick.every_ms)
    : undefined;
  const onAbort = () => void messages.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await actor.start?.(startContext(actor, deps, tracer));
    for await (const batch of batches(messages, actor.batch.max_messages, actor.batch.max_wait_ms, eventCount)) {
      if (tickError) break;
      // Work arriving after an idle spell starts the stuck clock now, not at the last ack.
      if (metrics.inFlight === 0 && metrics.pending === 0) progressed();
      inFlight = batch.flatMap((msg) => track(def, msg));
      metrics.inFlight += inFlight.length;
      const last = batch[batch.length - 1];
      metrics.pending = last.info.pending;
      position.pending = last.info.pending;
      position.deliveredSeq = Math.max(position.deliveredSeq, last.seq);
      metrics.received += inFlight.length;
      metrics.lastBatchAt = Date.now();
      const items = inFlight;
      try {
        await serial(() => step(items, actor.handle.bind(actor)));
        inFlight = [];
      } finally {
        metrics.inFlight -= items.length;
      }
      if (signal.aborted) break;
    }
    await lock;
    if (tickError) throw tickError;
  } finally {
    signal.removeEventListener("abort", onAbort);
    clearInterval(housekeeping);
    if (ticker) clearInterval(ticker);
    // Stop pulling before handing anything back (close() unsubscribes at once, ahead of the naks on
    // the wire): a nak the server reads while this pull is still open is redelivered into it, so the
    // message loses a delivery (max_deliver counts it) and waits out its ack wait unseen.
    const closing = messages.close().catch(() => undefined);
    // Whatever is unacked goes back to the stream at once, for this or another instance.
    const unacked = new Set<JsMsg>();
    for (const t of [...inFlight, ...held.clear()]) {
      unacked.add(t.msg);
      t.span?.end();
    }
    for (const msg of unacked) msg.nak();
    showHeld();
    // close() can wait on a pull that a restarted server never answers; do not hang the restart on it.
    await Promise.race([closing, sleep(2_000)]);
    await advisories?.stop();
    publisher.close();
    await actor.stop?.();
  }
}
