import { createHash } from "node:crypto";
import type { Span } from "@opentelemetry/api";
import type { NatsConnection } from "@nats-io/transport-node";
import type { StreamName } from "../../../subjects/catalog.ts";
import type { Batching, Inbound, Logger, Outbound, ServiceKey, StartContext } from "../actor.ts";
import type { PoisonError } from "../errors.ts";

/** One unit of a keyed actor's work: owned by one instance at a time, checkpointed on its own. */
export interface TaskSpec {
  /** Stable name: the lease key and the checkpoint's name (KV key characters: letters, digits, `-_=.`). */
  readonly id: string;
  /** Subject filter(s) on the stream; the task reads them in stored order. */
  readonly filter: string | readonly string[];
}

/** Where a keyed actor reads: ordered consumers on `stream` from each task's checkpointed position. */
export interface KeyedReads<T extends TaskSpec> {
  readonly mode: "keyed";
  readonly stream: StreamName;
  readonly tasks: readonly T[];
}

/**
 * What a handler may do with the messages of its batch. Nothing is acked: a message is done once
 * its batch's outputs are stored, and the checkpoint after it records that.
 */
export interface KeyedContext {
  /** Publish `out` for `input` (its span is the output's trace parent). */
  emit(input: Inbound, out: Outbound): void;
  /** Publish output that belongs to no single input (a closed window). */
  emitUnbound(out: Outbound): void;
  /** Dead-letter `input` with the error's reason; the task moves on. */
  reject(input: Inbound, error: PoisonError): void;
  /**
   * Every output id must start with this: the actor's fingerprint and the task id. Another config
   * or partitioning computes other content, so it must never reuse an id the streams' duplicate
   * windows still remember.
   */
  readonly scope: string;
  readonly log: Logger;
}

/**
 * A stateful stage as a declaration; the keyed runner (run.ts) owns leases, fencing, checkpoints,
 * ordered consumers, dead letters, spans and metrics. See README.md for the contract, above all
 * determinism: `handle` must make the state and outputs a function of the task's messages in
 * stream order (their data, subjects, sequences and stream timestamps), never of the wall clock,
 * batch boundaries or anything read from outside.
 *
 * @example
 * const counter = defineKeyedActor<{ n: number }>({
 *   name: "counter",
 *   reads: { mode: "keyed", stream: "EVENTS", tasks: [{ id: "p0", filter: "events.*.0" }] },
 *   emits: ["AGG"],
 *   batch: { max_messages: 500, max_wait_ms: 20 },
 *   fingerprint: "v1",
 *   createState: () => ({ n: 0 }),
 *   snapshot: (s) => s,
 *   restore: (_task, snap) => snap as { n: number },
 *   handle(state, batch, ctx) {
 *     for (const m of batch) ctx.emit(m, { subject: "agg.counter", data: String(++state.n), msgId: `${ctx.scope}:${m.seq}` });
 *   },
 * });
 */
export interface KeyedActorDefinition<S, T extends TaskSpec = TaskSpec> {
  readonly name: string;
  readonly reads: KeyedReads<T>;
  readonly emits: readonly StreamName[];
  readonly batch: Batching;
  /**
   * Hash of everything that shapes state and outputs: config, partition count, task layout. A
   * checkpoint under another fingerprint is not restored (the task rebuilds from the stream's
   * start), and it scopes output ids (KeyedContext.scope). A function gives each task its own:
   * the hash of what shapes that task, so a change that leaves a task alone keeps its checkpoint.
   */
  readonly fingerprint: string | ((task: T) => string);
  createState(task: T): S;
  /** JSON-serialisable; may drop what can no longer affect any output (e.g. closed sessions). */
  snapshot(state: S): unknown;
  restore(task: T, snapshot: unknown): S;
  handle(state: S, batch: readonly Inbound[], ctx: KeyedContext): void | Promise<void>;
  /**
   * For a task with no checkpoint yet: the stream sequence up to which an earlier deployment
   * already published this actor's outputs (e.g. the ack floor of the durable consumer the stage
   * read before it was keyed). The task still folds those messages into its state from the start
   * of the stream, but publishes nothing for them, so an upgrade does not publish again what the
   * streams' duplicate windows no longer remember.
   */
  outputsDoneThrough?(task: T, io: { readonly nc: NatsConnection; readonly signal: AbortSignal }): Promise<number>;
  /**
   * Outputs the runtime carries many to one message (subjects/event-batch.ts): of one handler
   * batch, the outputs `batchable` accepts go out as one message per subject, named by the RAW
   * range of their inputs. `filter(task)` is where the task's batches are on `stream`: after a
   * crash the restore reads them (headers only) and publishes no input a stored batch holds.
   * With `enabled` false the outputs go out one to a message, and the restore still reads the
   * batches a batching run stored after its checkpoint, so switching the mode off across a crash
   * stores nothing twice.
   */
  readonly batchOutputs?: {
    /** Default true. */
    readonly enabled?: boolean;
    readonly stream: StreamName;
    batchable(out: Outbound): boolean;
    filter(task: T): string | undefined;
  };
  /** After a batch's outputs are stored: gauges, span attributes. */
  report?(state: S, task: T, progress: { readonly seq: number; readonly span: Span }): void;
  /** The task stopped on this instance (handed over, lost, shut down). */
  taskStopped?(task: T): void;
  /** Process-wide services `start` takes through `ctx.use` (ActorDefinition.needs). */
  readonly needs?: readonly ServiceKey<unknown>[];
  /** Called when the actor starts (and after every restart), before any task runs. */
  start?(ctx: StartContext): void | Promise<void>;
  stop?(): void | Promise<void>;
}

/** A keyed actor's fingerprint: 16 hex characters of a hash of the JSON of what shapes its state and outputs. */
export function fingerprintOf(shape: unknown): string {
  return createHash("sha256").update(JSON.stringify(shape)).digest("hex").slice(0, 16);
}

/** The fingerprint `task` runs under (KeyedActorDefinition.fingerprint). */
export function fingerprintOfTask<T extends TaskSpec>(def: { readonly fingerprint: string | ((task: T) => string) }, task: T): string {
  return typeof def.fingerprint === "string" ? def.fingerprint : def.fingerprint(task);
}

export function defineKeyedActor<S, T extends TaskSpec = TaskSpec>(def: KeyedActorDefinition<S, T>): KeyedActorDefinition<S, T> {
  return def;
}
