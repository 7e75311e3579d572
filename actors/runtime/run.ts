import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from "@opentelemetry/api";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JsMsg, type JetStreamClient } from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import { HEADERS, subject as subjects } from "../../subjects/catalog.ts";
import { ensureConsumer } from "../../subjects/setup.ts";
import { extractContext, injectContext } from "../../otel/propagation.ts";
import type { ActorContext, ActorDefinition, Inbound, Logger, Outbound } from "./actor.ts";
import { batches } from "./batches.ts";
import { describeError, isRetryable, PoisonError, type RetryableError } from "./errors.ts";
import { MinHeap } from "./heap.ts";
import { metricsFor } from "./metrics.ts";
import { fitBody, wireSize } from "./size.ts";

export interface RuntimeDeps {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** Tracer per actor (service.name per actor); defaults to the global API tracer. */
  readonly tracerFor?: (actor: string) => Tracer;
  readonly signal: AbortSignal;
}

/** Publishing a handler's output failed: nothing of the batch was acked; the actor restarts. */
export class PublishError extends Error {
  constructor(actor: string, failed: number, total: number, cause: unknown) {
    super(`${actor}: ${failed} of ${total} outputs were not stored by JetStream (${describeError(cause)}); inputs stay unacked and will be redelivered`, { cause });
    this.name = "PublishError";
  }
}

interface Tracked {
  readonly msg: JsMsg;
  readonly inbound: Inbound;
  readonly span: Span;
}

interface Plan {
  bound: Map<Inbound, Outbound[]>;
  unbound: Outbound[];
  rejected: Map<Inbound, PoisonError>;
  retried: Map<Inbound, Error>;
  held: Map<Inbound, number>;
  release: number | undefined;
}

function newPlan(): Plan {
  return { bound: new Map(), unbound: [], rejected: new Map(), retried: new Map(), held: new Map(), release: undefined };
}

function sourceOf(subject: string): string {
  const [, source] = subject.split(".");
  return source || "unknown";
}

function backoffMs(attempt: number, baseMs: number): number {
  return Math.min(30_000, baseMs * 2 ** Math.min(attempt, 10));
}

/**
 * Runs one actor until `signal` aborts or it fails. Order of a batch: handle → publish outputs
 * (await every PubAck) → publish dead letters → term / nak / ack. A message is never acked
 * before what it produced is stored.
 */
export async function runActor(actor: ActorDefinition, deps: RuntimeDeps): Promise<void> {
  const { nc, log, signal } = deps;
  const tracer = deps.tracerFor?.(actor.name) ?? trace.getTracer(`sluice-${actor.name}`);
  const metrics = metricsFor(actor.name);
  const def = actor.consumes;
  const js: JetStreamClient = jetstream(nc);
  await ensureConsumer(await jetstreamManager(nc), def);
  const consumer = await js.consumers.get(def.stream, def.durable_name);
  const ackWaitMs = def.ack_wait / 1_000_000;
  const held = new MinHeap<Tracked>();
  let inFlight: Tracked[] = [];

  const track = (msg: JsMsg): Tracked => {
    const parent = extractContext(msg.headers, context.active());
    const span = tracer.startSpan(`${actor.name} process`, {
      kind: SpanKind.CONSUMER,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": msg.subject,
        "messaging.consumer.group.name": def.durable_name,
        "messaging.nats.stream": def.stream,
        "messaging.nats.stream_sequence": msg.seq,
        "messaging.nats.delivery_count": msg.info.deliveryCount,
        "sluice.actor": actor.name,
      },
    }, parent);
    const hdrs = new Map<string, string>();
    if (msg.headers) for (const key of msg.headers.keys()) hdrs.set(key, msg.headers.get(key));
    const inbound: Inbound = {
      subject: msg.subject,
      stream: def.stream,
      seq: msg.seq,
      deliveries: msg.info.deliveryCount,
      timestampMs: Number(msg.timestampNanos / 1_000_000n),
      headers: hdrs,
      data: msg.data,
      traceId: span.spanContext().traceId,
    };
    return { msg, inbound, span };
  };

  const publish = async (out: Outbound, span: Span | undefined) => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(out.headers ?? {})) h.set(k, v);
    if (span) injectContext(h, trace.setSpan(context.active(), span));
    else injectContext(h);
    return js.publish(out.subject, out.data, { headers: h, msgID: out.msgId });
  };

  const deadLetter = (t: Tracked, code: string, reason: string) => {
    const original = t.msg.headers;
    const out: Record<string, string> = {};
    if (original) for (const key of original.keys()) out[key] = original.get(key);
    // Kept apart: the dead letter has its own Nats-Msg-Id, and a replay must carry the original again.
    if (out[HEADERS.msgId]) out[HEADERS.originalMsgId] = out[HEADERS.msgId];
    delete out[HEADERS.msgId];
    Object.assign(out, {
      [HEADERS.reason]: reason.replace(/[\r\n]+/g, " "),
      [HEADERS.errorCode]: code,
      [HEADERS.actor]: actor.name,
      [HEADERS.originalSubject]: t.msg.subject,
      [HEADERS.originalStream]: def.stream,
      [HEADERS.streamSequence]: String(t.msg.seq),
      [HEADERS.deliveries]: String(t.msg.info.deliveryCount),
      [HEADERS.failedAt]: new Date().toISOString(),
    });
    const data = fitBody(t.msg.data, out, nc.info?.max_payload ?? Infinity);
    if (data !== t.msg.data) out[HEADERS.truncated] = String(t.msg.data.length);
    return publish({
      subject: subjects.dlq(actor.name, sourceOf(t.msg.subject)),
      data,
      msgId: `dlq:${actor.name}:${def.stream}:${t.msg.seq}`,
      headers: out,
    }, t.span);
  };

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
    for (const [inbound, outs] of plan.bound) for (const out of outs) outputs.push(publish(out, byInbound.get(inbound)?.span));
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
    for (const d of deadLetters) outputs.push(deadLetter(d.t, d.code, d.reason));

    const results = await Promise.allSettled(outputs);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failures.length) throw new PublishError(actor.name, failures.length, outputs.length, failures[0].reason);
    metrics.emitted += outputs.length - deadLetters.length;
    metrics.deadLettered += deadLetters.length;

    for (const t of items) {
      const rejected = plan.rejected.get(t.inbound);
      const retry = plan.retried.get(t.inbound);
      if (rejected || exhausted.has(t.inbound)) {
        // No reason argument: `+TERM <reason>` needs nats-server 2.10.4; 2.9 ignores it and redelivers.
        t.msg.term();
        t.span.setStatus({ code: SpanStatusCode.ERROR, message: rejected?.message ?? "max_deliver exhausted" });
        t.span.end();
      } else if (retry) {
        const delay = isRetryable(retry) ? retry.delayMs : backoffMs(t.inbound.deliveries - 1, 500);
        t.msg.nak(delay);
        metrics.retried++;
        t.span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(retry) });
        t.span.end();
      } else if (plan.held.has(t.inbound)) {
        held.push(plan.held.get(t.inbound)!, t);
      } else {
        t.msg.ack();
        metrics.acked++;
        t.span.end();
      }
    }
    if (plan.release !== undefined) {
      for (const t of held.popUpTo(plan.release)) {
        t.msg.ack();
        metrics.acked++;
        t.span.end();
      }
    }
    metrics.held = held.size;
  };

  const contextFor = (plan: Plan): ActorContext => ({
    emit: (input, out) => {
      const list = plan.bound.get(input);
      if (list) list.push(out);
      else plan.bound.set(input, [out]);
    },
    emitUnbound: (out) => void plan.unbound.push(out),
    reject: (input, error) => void plan.rejected.set(input, error),
    retry: (input, error) => void plan.retried.set(input, error),
    hold: (input, until) => void plan.held.set(input, until),
    release: (watermark) => void (plan.release = Math.max(plan.release ?? -Infinity, watermark)),
    log,
  });

  const step = async (items: Tracked[], run: (ctx: ActorContext) => void | Promise<void>) => {
    const links = items.slice(0, 128).map((t) => ({ context: t.span.spanContext() }));
    const batchSpan = tracer.startSpan(`${actor.name} batch`, { kind: SpanKind.INTERNAL, links, attributes: { "messaging.batch.message_count": items.length, "sluice.actor": actor.name } });
    let plan = newPlan();
    try {
      for (let attempt = 0; ; attempt++) {
        plan = newPlan();
        try {
          await context.with(trace.setSpan(context.active(), batchSpan), () => run(contextFor(plan)));
          break;
        } catch (err) {
          if (isRetryable(err) && !signal.aborted) {
            metrics.batchRetries++;
            const delay = Math.min(backoffMs(attempt, (err as RetryableError).delayMs), ackWaitMs / 3);
            if (attempt === 0 || attempt % 10 === 0) log.warn(`${actor.name}: ${describeError(err)}; holding ${items.length} messages and retrying in ${delay} ms`);
            for (const t of items) t.msg.working();
            await sleep(delay, undefined, { signal }).catch(() => undefined);
            if (signal.aborted) throw err;
            continue;
          }
          if (isRetryable(err)) throw err;
          metrics.errors++;
          log.error(`${actor.name}: handler failed for a batch of ${items.length}: ${describeError(err)}`);
          plan = newPlan();
          for (const t of items) plan.retried.set(t.inbound, err instanceof Error ? err : new Error(String(err)));
          break;
        }
      }
      await finish(items, plan);
    } finally {
      batchSpan.end();
    }
  };

  // Batches and ticks take turns; a failed turn must not poison the turns after it.
  let lock: Promise<void> = Promise.resolve();
  const serial = (fn: () => Promise<void>): Promise<void> => {
    const turn = lock.then(fn);
    lock = turn.catch(() => undefined);
    return turn;
  };
  const keepAlive = setInterval(() => {
    for (const t of held.values()) t.msg.working();
  }, Math.max(1_000, ackWaitMs / 3));

  const messages = await consumer.consume({ max_messages: Math.min(def.max_ack_pending, Math.max(actor.batch.max_messages * 2, 256)) });
  let tickError: unknown;
  // A failed tick (its output could not be stored) ends the consume loop, so the supervisor
  // restarts the actor now rather than at the next message.
  const ticker = actor.tick
    ? setInterval(() => {
        serial(() => step([], (ctx) => actor.tick!.handle(Date.now(), ctx))).catch((err) => {
          tickError ??= err;
          void messages.close();
        });
      }, actor.tick.every_ms)
    : undefined;
  const onAbort = () => void messages.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await actor.start?.(log);
    for await (const batch of batches(messages, actor.batch.max_messages, actor.batch.max_wait_ms)) {
      if (tickError) break;
      inFlight = batch.map(track);
      metrics.received += batch.length;
      metrics.lastBatchAt = Date.now();
      const items = inFlight;
      await serial(() => step(items, (ctx) => actor.handle(items.map((t) => t.inbound), ctx)));
      inFlight = [];
      if (signal.aborted) break;
    }
    await lock;
    if (tickError) throw tickError;
  } finally {
    signal.removeEventListener("abort", onAbort);
    clearInterval(keepAlive);
    if (ticker) clearInterval(ticker);
    // Whatever is unacked goes back to the stream at once, for this or another instance.
    for (const t of [...inFlight, ...held.clear()]) {
      t.msg.nak();
      t.span.end();
    }
    metrics.held = 0;
    // close() can wait on a pull that a restarted server never answers; do not hang the restart on it.
    await Promise.race([messages.close().catch(() => undefined), sleep(2_000)]);
    await actor.stop?.();
  }
}
