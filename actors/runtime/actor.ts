import type { ConsumerDefinition } from "../../subjects/consumers.ts";
import type { StreamName } from "../../subjects/catalog.ts";
import type { PoisonError, RetryableError } from "../../subjects/errors.ts";
import type { Inbound, Outbound } from "../../subjects/message.ts";
import type { Logger } from "../../otel/log.ts";
import type { Tracer } from "@opentelemetry/api";
import type { NatsConnection } from "@nats-io/transport-node";
import type { KV, KvOptions } from "@nats-io/kv";
import type { ObjectStore } from "@nats-io/obj";

// Handlers are written against these; they live with the message contract and observability so
// layers below the actors can use them too.
export type { Inbound, Outbound, Logger };

/**
 * What a handler may do with each message of its batch. A message the handler neither emits
 * from, rejects, retries nor holds is acknowledged once the batch's outputs are stored.
 */
export interface ActorContext {
  /** Publish `out` on behalf of `input`: the input is acked only after JetStream stores `out`. */
  emit(input: Inbound, out: Outbound): void;
  /** Publish output that belongs to no single input (a closed window); stored before any ack of this batch. */
  emitUnbound(out: Outbound): void;
  /** Dead-letter `input` with the error's reason; it is never retried. */
  reject(input: Inbound, error: PoisonError): void;
  /** Redeliver `input` after the error's delay, up to `max_deliver`; then it is dead-lettered. */
  retry(input: Inbound, error: RetryableError | Error): void;
  /** Keep `input` unacked until `release(w)` is called with `w >= untilWatermark`. */
  hold(input: Inbound, untilWatermark: number): void;
  /** Ack every held input whose watermark has passed, once this batch's outputs are stored. */
  release(watermark: number): void;
  readonly log: Logger;
}

/**
 * A process-wide service an actor may need (the schema registry, ClickHouse), named by a typed
 * key: the process opens each once and shares it between its actors.
 *
 * @example
 * const REGISTRY = serviceKey<SchemaRegistry>("schema registry");
 * defineActor({ ..., needs: [REGISTRY], async start(ctx) { registry = await ctx.use(REGISTRY); } });
 */
export interface ServiceKey<T> {
  readonly name: string;
  /** Never set: carries T. */
  readonly type?: () => T;
}

export function serviceKey<T>(name: string): ServiceKey<T> {
  return { name };
}

/** Where the runtime finds the services actors declared (actors/services.ts opens sluice's). */
export interface ServiceProvider {
  get<T>(key: ServiceKey<T>, signal: AbortSignal): Promise<T>;
}

/**
 * What an actor gets when it starts (and after every restart), before its first message: the
 * runtime's handles, so a declaration never needs them wired in by hand. Handlers stay plain
 * functions of their batch: a test calls `handle` without any of this.
 */
export interface StartContext {
  readonly actor: string;
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** Aborts when the actor stops: every wait in `start` must end with it. */
  readonly signal: AbortSignal;
  readonly tracer: Tracer;
  /** A KV bucket, created with `opts` if it does not exist; the call has a deadline and honours `signal`. */
  kv(bucket: string, opts?: Partial<KvOptions>): Promise<KV>;
  /** An object store bucket, created if it does not exist; deadline and `signal` as for `kv`. */
  objectStore(bucket: string): Promise<ObjectStore>;
  /** A service named in the definition's `needs` (asking for another one throws). */
  use<T>(key: ServiceKey<T>): Promise<T>;
}

export interface Batching {
  /** Most messages handed to one `handle` call. */
  readonly max_messages: number;
  /** Longest wait after the first message before handling a partial batch. */
  readonly max_wait_ms: number;
}

/**
 * An actor: plain data plus one function. The runtime owns the consumer, acks, retries,
 * dead letters, spans, metrics and shutdown.
 *
 * @example
 * const upper = defineActor({
 *   name: "upper",
 *   consumes: CONSUMERS.sinkEvents,
 *   emits: ["EVENTS"],
 *   batch: { max_messages: 100, max_wait_ms: 5 },
 *   handle(batch, ctx) {
 *     for (const m of batch) ctx.emit(m, { subject: "events.iot.0", data: m.data });
 *   },
 * });
 */
export interface ActorDefinition {
  readonly name: string;
  readonly consumes: ConsumerDefinition;
  readonly emits: readonly StreamName[];
  /** ClickHouse tables the handler writes (sinks); the dataset graph (subjects/topology.ts) shows them. */
  readonly writes?: readonly string[];
  readonly batch: Batching;
  /**
   * Decides what to do with each message of `batch` through `ctx`. Contract: decisions depend only
   * on the messages given (and state the handler rebuilds from them), because the runtime may call
   * `handle` again on the same messages — on a redelivery, and when the handler throws an error
   * that is not a {@link RetryableError}: the batch is split in halves and re-run until the failing
   * message is alone, so only it is retried and dead-lettered while the rest are published and
   * acked. Decisions of a call that threw are discarded. A handler that keeps state across calls
   * must tolerate seeing a message twice.
   */
  handle(batch: readonly Inbound[], ctx: ActorContext): void | Promise<void>;
  /** Called every `every_ms` even when no message arrives (idle watermarks). */
  readonly tick?: { readonly every_ms: number; handle(nowMs: number, ctx: ActorContext): void | Promise<void> };
  /** Process-wide services `start` takes through `ctx.use`; the process opens them before the actor starts. */
  readonly needs?: readonly ServiceKey<unknown>[];
  /** Called once when the actor starts and after every restart, before the first message. */
  start?(ctx: StartContext): void | Promise<void>;
  /** Called when the actor stops or crashes; release resources here. */
  stop?(): void | Promise<void>;
}

export function defineActor(def: ActorDefinition): ActorDefinition {
  return def;
}
