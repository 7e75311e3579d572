import { setMaxListeners } from "node:events";
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Link, type Span, type Tracer } from "@opentelemetry/api";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, PubHeaders, type JsMsg } from "@nats-io/jetstream";
import { extractContext, injectContext } from "../../../otel/propagation.ts";
import { withDeadline } from "../../../nats/deadline.ts";
import { AckedPublisher } from "../../../nats/publish.ts";
import type { Inbound, Logger, Outbound } from "../actor.ts";
import { batches } from "../batches.ts";
import { buildDeadLetter } from "../dead-letter.ts";
import { deliveryOf, eventCount, eventsOrWhole, lazyHeaderMap, spanContextOf, traceparentOf, type HeaderSource } from "../delivery.ts";
import { describeError, PoisonError } from "../errors.ts";
import { metricsFor } from "../metrics.ts";
import { bindOutput } from "../plan.ts";
import { PublishError } from "../run.ts";
import { wireSize } from "../size.ts";
import { fingerprintOfTask, type KeyedActorDefinition, type KeyedContext, type TaskSpec } from "./actor.ts";
import type { CheckpointStore } from "./checkpoint.ts";
import { isLeaseLost, type Lease } from "./ownership.ts";
import { packOutputs, StoredBatches, subjectMatches, type OutputItem, type Packed } from "./batched-outputs.ts";
import { isWrongLastSequence, SubjectFence } from "./fence.ts";
import { OrderedRead } from "./ordered-read.ts";
import { publishThroughElection } from "../transient.ts";

export interface TaskDeps<S, T extends TaskSpec> {
  readonly def: KeyedActorDefinition<S, T>;
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly tracer: Tracer;
  readonly store: CheckpointStore;
  /** Longest time between checkpoints while messages flow. */
  readonly checkpointEveryMs: number;
}

/**
 * Runs one task of a keyed actor until stopped: restore the checkpoint the lease points to, read
 * the task's subjects from the next sequence with an ordered consumer (no acks, no redeliveries:
 * the position lives in the checkpoint), hand each batch to the handler, publish its outputs and
 * dead letters and wait for every PubAck, and only then move the position. A checkpoint is
 * written every `checkpointEveryMs` and on stop. After a SIGKILL the next owner restores the last
 * checkpoint and replays what followed; the handler and the ids being deterministic, the replayed
 * outputs are the same messages again and JetStream drops them as duplicates.
 *
 * Fencing: the task runs under `lease`. Before a batch's outputs are published the lease is read
 * back (same holder, same revision), and a checkpoint becomes current only through a
 * compare-and-set on the lease (checkpoint.ts). An instance that stalled past its membership
 * while another took the task over fails here with LeaseLostError instead of writing.
 */
export class TaskRunner<S, T extends TaskSpec> {
  readonly task: T;
  readonly lease: Lease;
  private readonly deps: TaskDeps<S, T>;
  /** Stops consuming: the batch in hand still finishes. */
  private readonly controller = new AbortController();
  /** Ends every broker wait: the stop's budget ran out. */
  private readonly hard = new AbortController();
  /** Resolves when the task has stopped; a failure is kept in `error`, never thrown here. */
  readonly done: Promise<void>;
  error: unknown;

  constructor(task: T, lease: Lease, deps: TaskDeps<S, T>) {
    this.task = task;
    this.lease = lease;
    this.deps = deps;
    // Every publish of a batch listens to it at once.
    setMaxListeners(0, this.hard.signal);
    this.done = this.run().catch((err) => {
      this.error = err ?? new Error(`${deps.def.name} task ${task.id} failed`);
    });
  }

  /** Stops the task; `budget` aborting ends whatever broker call the last batch or checkpoint still waits on. */
  async stop(budget: AbortSignal): Promise<void> {
    if (budget.aborted) this.hard.abort();
    else budget.addEventListener("abort", () => this.hard.abort(), { once: true });
    this.controller.abort();
    // Closing the consumer does not always end its iterator (seen in a hand-over that waited
    // forever, so the other instance never got its tasks). Past the budget the loop is left
    // behind: every broker call it could still make waits on `hard`, which has aborted, so it can
    // neither publish nor checkpoint.
    const outOfBudget = new Promise<"late">((resolve) => {
      if (this.hard.signal.aborted) resolve("late");
      else this.hard.signal.addEventListener("abort", () => resolve("late"), { once: true });
    });
    if ((await Promise.race([this.done.then(() => "done" as const), outOfBudget])) === "late") {
      this.deps.log.warn(`${this.deps.def.name} ${this.task.id}: still stopping when its budget ran out; left behind (it can no longer publish or checkpoint)`);
    }
  }

  private async run(): Promise<void> {
    const { task, deps, lease } = this;
    const { def, log, tracer, store } = deps;
    const { stream } = def.reads;
    const name = `${def.name} ${task.id}`;
    const signal = this.controller.signal;
    const hard = this.hard.signal;
    const metrics = metricsFor(def.name);
    const filters = typeof task.filter === "string" ? [task.filter] : [...task.filter];
    const fingerprint = fingerprintOfTask(def, task);
    const scope = `${fingerprint}.${task.id}`;
    let state: S;
    let seq = 0;

    const cp = await store.load(lease, hard);
    if (cp && cp.fingerprint === fingerprint) {
      state = def.restore(task, cp.state);
      seq = cp.seq;
      log.info(`${name}: resuming after ${stream} sequence ${seq}`);
    } else {
      if (cp) log.warn(`${name}: the checkpoint was taken under another configuration (fingerprint ${cp.fingerprint}, now ${fingerprint}); rebuilding from the start of ${stream}`);
      state = def.createState(task);
    }
    let quietThrough = 0;
    if (!cp && def.outputsDoneThrough) {
      quietThrough = await withDeadline(() => def.outputsDoneThrough!(task, { nc: deps.nc, signal: hard }), { what: `${name}: where an earlier deployment's outputs end`, signal: hard });
      if (quietThrough > 0) log.info(`${name}: no checkpoint; folding ${stream} from its start, publishing only after sequence ${quietThrough} (an earlier deployment published up to there)`);
    }
    // Batches stored after the checkpoint (by an interrupted run, or a stalled former holder):
    // their inputs are not published again, and every publish to the task's batched subjects is
    // fenced by the last sequence it knows there (fence.ts).
    const batching = def.batchOutputs;
    const packing = batching !== undefined && batching.enabled !== false;
    const batchFilter = batching?.filter(task);
    const stored = new StoredBatches();
    let fence: SubjectFence | undefined;
    // Through this input sequence, outputs go out one to a message (FencePosition.singlesThrough).
    let singlesThrough = 0;
    const restored = cp && cp.fingerprint === fingerprint ? cp : undefined;
    const restoredUnbatched = restored !== undefined && restored.fence === undefined && restored.batchedThrough === undefined;
    // Unbatched, the read is needed only on a checkpoint that a batching run wrote.
    if (batching && batchFilter && (packing || (restored && !restoredUnbatched))) {
      // From where each subject is known: the checkpoint's fence; before fencing, the last batch
      // stored before it; a checkpoint from before batching has no batch of this task to find;
      // without a checkpoint, from the start.
      const from = restored?.fence
        ? { subjects: restored.fence.subjects, otherwise: restored.fence.floor }
        : { otherwise: restored ? restored.batchedThrough ?? Number.MAX_SAFE_INTEGER : 0 };
      fence = await SubjectFence.restore(deps.nc, batching.stream, batchFilter, from, stored, hard);
      if (!stored.isEmpty) log.info(`${name}: ${batching.stream} holds batches of this task after the checkpoint; their inputs are not published again`);
      singlesThrough = restored?.fence?.singlesThrough ?? 0;
      if (packing && restoredUnbatched) {
        // The interrupted run stored its outputs after the checkpoint one to a message under each
        // event's id; replayed the same way, JetStream drops them as repeats. Past what the input
        // stream holds now, that run can have answered nothing.
        const jsm = await withDeadline(() => jetstreamManager(deps.nc), { what: `${name}: JetStream manager`, signal: hard });
        singlesThrough = (await withDeadline(() => jsm.streams.info(stream), { what: `${name}: ${stream} info`, signal: hard })).state.last_seq;
        if (singlesThrough > seq) log.info(`${name}: the checkpoint was written without batching; outputs through ${stream} sequence ${singlesThrough} go out one to a message`);
      }
    }
    const fenced = (subject: string) => packing && batchFilter !== undefined && subjectMatches(batchFilter, subject);
    if (signal.aborted) return;

    // Re-created from the next sequence when its node is lost (ordered-read.ts), instead of the task failing.
    const messages = await OrderedRead.open(deps.nc, { stream, filters, after: seq, name, maxMessages: Math.max(256, def.batch.max_messages * 2), signal: hard, log });
    const onAbort = () => void messages.close();
    signal.addEventListener("abort", onAbort, { once: true });

    let savedSeq = seq;
    let savedAt = Date.now();
    const save = async () => {
      // Unbatched, the fence position is kept only while batches stored after the restored checkpoint lie ahead.
      const position = fence && (packing || !stored.isEmpty) ? { ...fence.position(stored.firstAfter(seq)), ...(seq < singlesThrough ? { singlesThrough } : {}) } : undefined;
      const bytes = await store.save({ format: 2, actor: def.name, task: task.id, fingerprint, seq, state: def.snapshot(state), savedAt: Date.now(), ...(position ? { fence: position } : {}) }, lease, hard);
      savedSeq = seq;
      savedAt = Date.now();
      log.debug(`${name}: checkpoint at ${stream} sequence ${seq} (${bytes} bytes)`);
    };

    // Not js.publish: it is a request, with a timer and, after every success, an error built with its stack.
    const publisher = new AckedPublisher(deps.nc, { what: name, signal: hard });
    const publish = (out: Outbound, parent: Span | undefined, expectedLastSubjectSeq?: number) => {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(out.headers ?? {})) h.set(k, v);
      injectContext(h, parent ? trace.setSpan(context.active(), parent) : undefined);
      if (expectedLastSubjectSeq !== undefined) h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(expectedLastSubjectSeq));
      return publishThroughElection(() => publisher.publish(out.subject, out.data, { headers: h, msgId: out.msgId }), hard);
    };
    /**
     * One subject's messages of a batch, one after the other, each expecting the subject's last
     * sequence to be the one before it. Refused because another writer stored a message there:
     * a stale holder (the lease check) stops; the holder learns what was stored and publishes the
     * events still missing.
     */
    const publishFenced = async (f: SubjectFence, subject: string, queue: Packed[], parentOf: (p: Packed) => Span | undefined) => {
      let refusals = 0;
      while (queue.length) {
        const p = queue.shift()!;
        const expect = await f.expected(subject, hard);
        try {
          f.accepted(subject, await publish(p.out, parentOf(p), expect));
        } catch (err) {
          if (!isWrongLastSequence(err)) throw err;
          await lease.check(`publish to ${subject}, where another writer stored a message after sequence ${expect}`, hard);
          if (++refusals > MAX_FENCE_REFUSALS) throw new FenceError(name, subject, refusals, err);
          f.refused(subject);
          await f.expected(subject, hard);
          if (!p.batch) {
            queue.unshift(p);
            continue;
          }
          const missing = p.items.filter((item) => !stored.holds(subject, item.input!));
          log.info(`${name}: ${subject} holds a batch another writer stored after sequence ${expect}; ${p.items.length - missing.length} of ${p.items.length} events were in it, the rest go out`);
          queue.unshift(...packOutputs(scope, missing, maxPayloadOf()));
        }
      }
    };

    const maxPayloadOf = () => deps.nc.info?.max_payload ?? Infinity;
    let clean = false;
    try {
      for await (const batch of batches(messages, def.batch.max_messages, def.batch.max_wait_ms, eventCount)) {
        const links: Link[] = [];
        const { inputs, origins } = toInbounds(batch, stream);
        for (const m of batch.slice(0, 64)) {
          const linked = trace.getSpanContext(extractContext(m.headers, ROOT_CONTEXT));
          if (linked && trace.isSpanContextValid(linked)) links.push({ context: linked });
        }
        const first = inputs[0].seq;
        const last = inputs[inputs.length - 1].seq;
        const span = tracer.startSpan(`${def.name} batch`, {
          kind: SpanKind.CONSUMER,
          links,
          attributes: {
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": filters.join(","),
            "messaging.nats.stream": stream,
            "messaging.batch.message_count": batch.length,
            "messaging.nats.stream_sequence.first": first,
            "messaging.nats.stream_sequence.last": last,
            "sluice.actor": def.name,
            "sluice.task": task.id,
          },
        });
        metrics.received += inputs.length;
        metrics.inFlight += inputs.length;
        metrics.lastBatchAt = Date.now();
        try {
          await context.with(trace.setSpan(context.active(), span), async () => {
            const plan = { bound: new Map<Inbound, Outbound[]>(), unbound: [] as Outbound[], rejected: new Map<Inbound, PoisonError>() };
            const ctx: KeyedContext = {
              emit: (input, out) => bindOutput(plan.bound, input, out),
              emitUnbound: (out) => void plan.unbound.push(out),
              reject: (input, error) => void plan.rejected.set(input, error),
              scope,
              log,
            };
            await def.handle(state, inputs, ctx);
            const outputs: Array<{ out: Outbound; input?: Inbound }> = plan.unbound.map((out) => ({ out }));
            // An output over the server's max_payload can never be stored: dead-letter its input instead.
            const maxPayload = maxPayloadOf();
            for (const [input, outs] of plan.bound) {
              const big = outs.find((o) => wireSize(o) > maxPayload);
              if (big) plan.rejected.set(input, new PoisonError("too_large", `${input.subject} (stream ${stream} seq ${input.seq}): its output on ${big.subject} would be about ${wireSize(big)} bytes, over the server's max_payload of ${maxPayload}`));
              else for (const out of outs) outputs.push({ out, input });
            }
            const originOf = plan.rejected.size + plan.bound.size > 0 ? new Map(inputs.map((input, i) => [input, origins[i]] as const)) : undefined;
            const deadLetters = [...plan.rejected].map(([input, err]) => ({
              input,
              out: buildDeadLetter({ actor: def.name, stream, subject: input.subject, seq: input.seq, index: input.index, deliveries: 1, headers: originOf?.get(input)?.headers, data: err.body ?? input.data },
                err.code, err.message, maxPayload, input.timestampMs),
            }));
            // Messages an earlier deployment already answered are folded, not answered again;
            // unbound outputs belong to the batch's last message.
            const fresh = <O extends { input?: Inbound }>(o: O) => (o.input ? o.input.seq : last) > quietThrough;
            let all: Array<{ out: Outbound; input?: Inbound }> = quietThrough >= first ? [...outputs, ...deadLetters].filter(fresh) : [...outputs, ...deadLetters];
            const batchable = (o: { out: Outbound; input?: Inbound }): o is { out: Outbound; input: Inbound } => batching !== undefined && o.input !== undefined && batching.batchable(o.out);
            const batched = (o: { out: Outbound; input?: Inbound }): o is { out: Outbound; input: Inbound } => packing && batchable(o) && o.input.seq > singlesThrough;
            // What an interrupted run already stored in a batch is not published again.
            stored.forgetBefore(first);
            if (!stored.isEmpty) all = all.filter((o) => !(batchable(o) && stored.holds(o.out.subject, o.input)));
            if (all.length === 0) return;
            await lease.check(`publish ${all.length} outputs of ${stream} sequences ${first}-${last}`, hard);
            // An input's outputs are children of its own process span, itself a child of the input's
            // trace: the event's trace goes on through this actor (the batch span only links to it).
            const spans = new Map<Inbound, Span>();
            const spanOf = (input: Inbound) => {
              let span = spans.get(input);
              if (!span) spans.set(input, (span = startProcessSpan(tracer, def.name, task.id, input, originOf?.get(input))));
              return span;
            };
            // Every batched event keeps its own trace: its line carries its process span's context.
            const items: OutputItem[] = all.map((o) => {
              if (!batched(o)) return { out: o.out, input: o.input, batched: false };
              const sc = spanOf(o.input).spanContext();
              return { out: o.out, input: o.input, batched: true, traceparent: trace.isSpanContextValid(sc) ? traceparentOf(sc) : undefined };
            });
            const parentOf = (p: Packed) => (p.batch ? span : p.input && spanOf(p.input));
            const sends: Array<Promise<unknown>> = [];
            const bySubject = new Map<string, Packed[]>();
            for (const p of packOutputs(scope, items, maxPayload)) {
              // A single of the replay after an unbatched checkpoint is deduplicated by its id, and
              // fencing it would learn its subject again after each repeat (a repeat's ack tells no sequence).
              if (!fence || !fenced(p.out.subject) || (!p.batch && p.input !== undefined && p.input.seq <= singlesThrough)) sends.push(publish(p.out, parentOf(p)));
              else {
                const list = bySubject.get(p.out.subject);
                if (list) list.push(p);
                else bySubject.set(p.out.subject, [p]);
              }
            }
            for (const [subject, queue] of bySubject) sends.push(publishFenced(fence!, subject, queue, parentOf));
            const results = await Promise.allSettled(sends);
            for (const span of spans.values()) span.end();
            const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
            // A fenced publish refused to a holder that lost its lease: the task stops, as on its lease check.
            const lost = failures.find((f) => isLeaseLost(f.reason));
            if (lost) throw lost.reason;
            if (failures.length) throw new PublishError(name, failures.length, sends.length, failures[0].reason);
            metrics.emitted += outputs.length;
            metrics.deadLettered += deadLetters.length;
          });
          seq = last;
          metrics.acked += inputs.length;
          metrics.lastProgressAt = Date.now();
          def.report?.(state, task, { seq, span });
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(err) });
          throw err;
        } finally {
          metrics.inFlight -= inputs.length;
          span.end();
        }
        if (Date.now() - savedAt >= deps.checkpointEveryMs && seq > savedSeq) await save();
        if (signal.aborted) break;
      }
      clean = true;
    } finally {
      signal.removeEventListener("abort", onAbort);
      publisher.close();
      // close() waits on a pull a stalled server never answers.
      await withDeadline(() => messages.close(), { what: `${name}: close the ${stream} consumer`, signal: hard, timeoutMs: 1_000 }).catch(() => undefined);
      // Only a loop that ended cleanly has every output of its state stored.
      if (clean && seq > savedSeq) await save();
      def.taskStopped?.(task);
    }
  }
}

/** Where an input came from: the headers of its event (the message's, or a batched event's own) and its trace parent. */
interface Origin {
  readonly headers: HeaderSource | undefined;
  readonly msg: JsMsg;
  readonly traceparent: string | undefined;
}

/** One CONSUMER span per input that has outputs, its parent the input's trace (a batched event's line, else the message's headers). */
function startProcessSpan(tracer: Tracer, actor: string, task: string, input: Inbound, origin: Origin | undefined): Span {
  const carried = spanContextOf(origin?.traceparent);
  return tracer.startSpan(`${actor} process`, {
    kind: SpanKind.CONSUMER,
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.type": "process",
      "messaging.destination.name": input.subject,
      "messaging.nats.stream": input.stream,
      "messaging.nats.stream_sequence": input.seq,
      ...(input.index !== undefined ? { "sluice.event_index": input.index } : {}),
      "sluice.actor": actor,
      "sluice.task": task,
    },
  }, carried ? trace.setSpanContext(ROOT_CONTEXT, carried) : extractContext(origin?.msg.headers, ROOT_CONTEXT));
}

/** The events of a batch of deliveries as the handler sees them, with where each came from. */
function toInbounds(batch: readonly JsMsg[], stream: string): { inputs: Inbound[]; origins: Origin[] } {
  const inputs: Inbound[] = [];
  const origins: Origin[] = [];
  for (const m of batch) {
    const events = eventsOrWhole(m.subject, m.seq, m.headers, m.data);
    if (events[0].index === undefined) {
      inputs.push(toInbound(m, stream));
      origins.push({ headers: m.headers, msg: m, traceparent: undefined });
      continue;
    }
    const { seq, timestampMs } = deliveryOf(m);
    for (const e of events) {
      const sc = spanContextOf(e.traceparent);
      const headers = new Map(e.traceparent ? [["traceparent", e.traceparent]] : []);
      inputs.push({ subject: m.subject, stream, seq, index: e.index, deliveries: 1, timestampMs, data: e.data, headers, traceId: sc?.traceId ?? "" });
      origins.push({ headers: e.headers, msg: m, traceparent: e.traceparent });
    }
  }
  return { inputs, origins };
}

/**
 * A delivered message as the handler sees it. Headers and trace id are read when asked for: most
 * handlers never do, and parsing them for every message is a measurable share of a busy task.
 * The trace id is the one the message arrived with (the event's lineage).
 */
function toInbound(m: JsMsg, stream: string): Inbound {
  const headers = lazyHeaderMap(m.headers);
  let traceId: string | undefined;
  const { seq, timestampMs } = deliveryOf(m);
  return {
    subject: m.subject,
    stream,
    seq,
    deliveries: 1,
    timestampMs,
    data: m.data,
    get headers() {
      return headers();
    },
    get traceId() {
      if (traceId === undefined) {
        const carried = trace.getSpanContext(extractContext(m.headers, ROOT_CONTEXT));
        traceId = carried && trace.isSpanContextValid(carried) ? carried.traceId : "";
      }
      return traceId;
    },
  };
}

/** Refusals of one subject's publishes within a batch before the task gives up: each means another writer stored a message there meanwhile. */
const MAX_FENCE_REFUSALS = 5;

/** A subject kept refusing the task's publishes: some other process keeps writing to a subject only this task should write. */
export class FenceError extends Error {
  constructor(task: string, subject: string, refusals: number, cause: unknown) {
    super(`${task}: ${refusals} publishes to ${subject} were refused because another writer stored messages there each time; only this task should write to it (look for another process publishing to ${subject})`, { cause });
    this.name = "FenceError";
  }
}
