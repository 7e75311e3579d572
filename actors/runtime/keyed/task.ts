import { setMaxListeners } from "node:events";
import { context, ROOT_CONTEXT as ROOT, SpanKind, SpanStatusCode, trace, type Link, type Tracer } from "@opentelemetry/api";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { configFingerprint, createWindowEngine, type Output, type WindowEngine } from "../../windowing/index.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { HEADERS, subject as subjects } from "../../subjects/catalog.ts";
import type { Source } from "../../subjects/sources.ts";
import { extractContext, injectContext } from "../../otel/propagation.ts";
import type { Logger, Outbound } from "../runtime/actor.ts";
import { batches } from "../runtime/batches.ts";
import { describeError, PublishError } from "../runtime/index.ts";
import { metricsFor } from "../runtime/metrics.ts";
import { withDeadline } from "../../nats/deadline.ts";
import type { CheckpointStore, SessionBounds } from "./checkpoint.ts";
import type { Lease } from "./ownership.ts";
import { countLate, dropTaskGauges, setGauge } from "./metrics.ts";
import { purgeSessions, toMessages } from "./outputs.ts";
import type { WindowTask } from "./tasks.ts";

export interface TaskDeps {
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly tracer: Tracer;
  readonly store: CheckpointStore;
  /** Longest time between checkpoints while messages flow. */
  readonly checkpointEveryMs: number;
  readonly batchMessages: number;
}

const ACTOR = "window";
const decoder = new TextDecoder();

/**
 * Runs one window task until stopped: restore the checkpoint, read the task's EVENTS subjects
 * from the next sequence with an ordered consumer (no acks, no redeliveries: the position lives
 * in the checkpoint), fold each batch, publish its outputs and wait for every PubAck, and only
 * then move the position. A checkpoint is written every `checkpointEveryMs` and on stop. After a
 * SIGKILL the next owner restores the last checkpoint and replays what followed; the engine and
 * the ids being deterministic, the replayed outputs are the same messages again.
 *
 * The engine's processing clock is each message's stream timestamp, not the wall clock, so a
 * replay sees the same idle timeouts as the first run did.
 *
 * Fencing: the task runs under `lease`. Before each batch's outputs are published the lease is
 * read back (same holder, same revision), and a checkpoint becomes current only through a
 * compare-and-set on the lease (checkpoint.ts). An instance that stalled past its membership
 * while another took the task over fails here with LeaseLostError instead of writing.
 */
export class TaskRunner {
  readonly task: WindowTask;
  private readonly deps: TaskDeps;
  readonly lease: Lease;
  /** Stops consuming: the batch in hand still finishes. */
  private readonly controller = new AbortController();
  /** Ends every broker wait: the stop's budget ran out. */
  private readonly hard = new AbortController();
  /** Resolves when the task has stopped; a failure is kept in `error`, never thrown here. */
  readonly done: Promise<void>;
  error: unknown;

  constructor(task: WindowTask, lease: Lease, deps: TaskDeps) {
    this.task = task;
    this.lease = lease;
    this.deps = deps;
    this.done = this.run().catch((err) => {
      this.error = err ?? new Error(`window task ${task.id} failed`);
    });
  }

  /** Stops the task; `budget` aborting ends whatever broker call the last batch or checkpoint still waits on. */
  async stop(budget: AbortSignal): Promise<void> {
    if (budget.aborted) this.hard.abort();
    else budget.addEventListener("abort", () => this.hard.abort(), { once: true });
    this.controller.abort();
    await this.done;
  }

  private async run(): Promise<void> {
    const { task, deps, lease } = this;
    const { log, tracer, store } = deps;
    const signal = this.controller.signal;
    const hard = this.hard.signal;
    // Every publish of a batch listens to it at once.
    setMaxListeners(0, hard);
    const metrics = metricsFor(ACTOR);
    const js: JetStreamClient = jetstream(deps.nc);
    const fingerprint = configFingerprint(task.config);
    const engine: WindowEngine = createWindowEngine(task.config);
    let sessions = new Map<string, SessionBounds>();
    let seq = 0;

    const cp = await store.load(lease, hard);
    if (cp && cp.config === fingerprint) {
      engine.restore(cp.snapshot);
      seq = cp.seq;
      sessions = new Map(cp.sessions);
      log.info(`window ${task.id}: resuming after EVENTS sequence ${seq}`);
    } else if (cp) {
      log.warn(`window ${task.id}: the checkpoint was taken under another window config (${cp.config}, now ${fingerprint}); rebuilding from the start of EVENTS`);
    }
    if (signal.aborted) return;

    const consumer = await withDeadline(() => js.consumers.get("EVENTS", {
      filter_subjects: task.filter,
      ...(seq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: seq + 1 } : { deliver_policy: DeliverPolicy.All }),
    }), { what: `window ${task.id}: ordered consumer on EVENTS ${task.filter}`, signal: hard });
    const messages = await withDeadline(() => consumer.consume({ max_messages: Math.max(256, deps.batchMessages * 2) }), { what: `window ${task.id}: consume EVENTS ${task.filter}`, signal: hard });
    const onAbort = () => void messages.close();
    signal.addEventListener("abort", onAbort, { once: true });

    let savedSeq = seq;
    let savedAt = Date.now();
    const save = async () => {
      const stored = await store.save({
        format: 1, task: task.id, config: fingerprint, seq, snapshot: engine.snapshot(), sessions: [...sessions], savedAt: Date.now(),
      }, lease, hard);
      savedSeq = seq;
      savedAt = Date.now();
      log.debug(`window ${task.id}: checkpoint at sequence ${seq} (${stored} bytes)`);
    };

    const publish = (out: Outbound, h = natsHeaders()) => {
      injectContext(h);
      return withDeadline(() => js.publish(out.subject, out.data, { headers: h, msgID: out.msgId }), { what: `window ${task.id}: publish to ${out.subject}`, signal: hard });
    };

    const deadLetter = (msg: JsMsg, code: string, reason: string) => {
      const h = natsHeaders();
      if (msg.headers) for (const key of msg.headers.keys()) if (key !== HEADERS.msgId) h.set(key, msg.headers.get(key));
      h.set(HEADERS.reason, reason.replace(/[\r\n]+/g, " "));
      h.set(HEADERS.errorCode, code);
      h.set(HEADERS.actor, ACTOR);
      h.set(HEADERS.originalSubject, msg.subject);
      h.set(HEADERS.originalStream, "EVENTS");
      h.set(HEADERS.streamSequence, String(msg.seq));
      h.set(HEADERS.deliveries, "1");
      h.set(HEADERS.failedAt, new Date(Number(msg.timestampNanos / 1_000_000n)).toISOString());
      const source = msg.subject.split(".")[1] || "unknown";
      return publish({ subject: subjects.dlq(ACTOR, source), data: msg.data, msgId: `dlq:${ACTOR}:EVENTS:${msg.seq}` }, h);
    };

    let clean = false;
    try {
      for await (const batch of batches(messages, deps.batchMessages, 20)) {
        const links: Link[] = [];
        for (const m of batch.slice(0, 64)) {
          const linked = trace.getSpanContext(extractContext(m.headers, ROOT));
          if (linked && trace.isSpanContextValid(linked)) links.push({ context: linked });
        }
        const span = tracer.startSpan(`${ACTOR} batch`, {
          kind: SpanKind.CONSUMER,
          links,
          attributes: {
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": task.filter,
            "messaging.nats.stream": "EVENTS",
            "messaging.batch.message_count": batch.length,
            "messaging.nats.stream_sequence.first": batch[0].seq,
            "messaging.nats.stream_sequence.last": batch[batch.length - 1].seq,
            "sluice.actor": ACTOR,
            "sluice.window.task": task.id,
          },
        });
        metrics.received += batch.length;
        metrics.lastBatchAt = Date.now();
        try {
          const outputs: Array<() => Promise<unknown>> = [];
          const pending: Array<Promise<unknown>> = [];
          let late = 0;
          await context.with(trace.setSpan(context.active(), span), async () => {
            for (const msg of batch) {
              const streamMs = Number(msg.timestampNanos / 1_000_000n);
              const partition = Number(msg.subject.split(".")[2]);
              let results: Output[];
              try {
                const envelope = JSON.parse(decoder.decode(msg.data)) as Envelope;
                if (!Number.isInteger(partition) || partition < 0) throw new Error(`subject ${msg.subject} has no partition token`);
                results = engine.onEvent(envelope, task.enginePartition(partition), streamMs);
              } catch (err) {
                outputs.push(() => deadLetter(msg, err instanceof SyntaxError ? "json" : "window_input", `${msg.subject} (seq ${msg.seq}): ${describeError(err)}`));
                metrics.deadLettered++;
                continue;
              }
              if (results.length === 0) continue;
              for (const out of toMessages(results, { task: task.id, scope: task.outputScope, partition, emittedAt: streamMs, sessions })) {
                if (out.subject.startsWith("late.")) late++;
                outputs.push(() => publish(out));
              }
            }
            if (outputs.length === 0) return;
            await lease.check(`publish ${outputs.length} outputs of EVENTS sequences ${batch[0].seq}-${batch[batch.length - 1].seq}`, hard);
            for (const out of outputs) pending.push(out());
          });
          const results = await Promise.allSettled(pending);
          const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
          if (failures.length) throw new PublishError(`${ACTOR} ${task.id}`, failures.length, pending.length, failures[0].reason);
          metrics.emitted += pending.length;
          countLate(late);
          seq = batch[batch.length - 1].seq;
          metrics.acked += batch.length;
          this.report(engine, span, seq);
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(err) });
          throw err;
        } finally {
          span.end();
        }
        if (Date.now() - savedAt >= deps.checkpointEveryMs && seq > savedSeq) {
          purgeSessions(sessions, (source) => horizon(engine, task, source));
          await save();
        }
        if (signal.aborted) break;
      }
      clean = true;
    } finally {
      signal.removeEventListener("abort", onAbort);
      // close() waits on a pull a stalled server never answers.
      await withDeadline(() => messages.close(), { what: `window ${task.id}: close the EVENTS consumer`, signal: hard, timeoutMs: 1_000 }).catch(() => undefined);
      // Only a loop that ended cleanly has every output of its state stored.
      if (clean && seq > savedSeq) await save();
      dropTaskGauges(task.id);
    }
  }

  private report(engine: WindowEngine, span: { setAttribute(k: string, v: number): void }, seq: number): void {
    const now = Date.now();
    for (const [source, s] of Object.entries(engine.status(now))) {
      if (!s) continue;
      setGauge({
        task: this.task.id, source, watermark: s.watermark, lag_ms: s.lag_ms, buffered: s.buffered, open_windows: s.open_windows,
        events: s.events, late_events: s.late_events, seq, updated_at: now,
      });
      if (s.watermark !== null) {
        span.setAttribute(`sluice.window.watermark.${source}`, s.watermark);
        span.setAttribute(`sluice.window.lag_ms.${source}`, s.lag_ms ?? 0);
      }
    }
  }
}

/** Event time before which a source's sessions can no longer change. */
function horizon(engine: WindowEngine, task: WindowTask, source: string): number | null {
  const wm = engine.watermark(source as Source);
  const sc = task.config.sources[source as Source];
  return wm === null || !sc ? null : wm - sc.allowedLatenessMs;
}
