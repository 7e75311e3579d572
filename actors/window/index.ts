import { configFingerprint, createWindowEngine, defaultWindowConfig, type EngineSnapshot, type Output, type WindowConfig, type WindowEngine } from "../../windowing/index.ts";
import { parseEventsSubject } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import type { Source } from "../../subjects/sources.ts";
import { DEFAULT_GROUP_SHARDS, DEFAULT_PARTITIONS } from "../../config/index.ts";
import { PoisonError, describeError } from "../runtime/errors.ts";
import type { LoopActor } from "../runtime/supervisor.ts";
import { defineKeyedActor, fingerprintOf, type KeyedActorDefinition } from "../runtime/keyed/actor.ts";
import { keyedActor, type KeyedRunOptions } from "../runtime/keyed/run.ts";
import { retiredTaskCheckpoint } from "../runtime/keyed/upgrade.ts";
import { countLate, dropTaskGauges, setGauge } from "./metrics.ts";
import { purgeSessions, toMessages, type SessionBounds } from "./outputs.ts";
import { layoutBeforeGroupShards, RETIRED_GROUPS_TASK, windowTasks, type WindowTask } from "./tasks.ts";

export interface WindowActorOptions extends KeyedRunOptions {
  /** Partitions of `events.<source>.<partition>` (SLUICE_PARTITIONS). */
  readonly partitions?: number;
  /** Shards of the payload-field group keys, each a task per source (SLUICE_GROUP_SHARDS; default 1). */
  readonly groupShards?: number;
  /** Overrides every source's idle timeout (stream time). */
  readonly idleMs?: number;
  readonly config?: WindowConfig;
  readonly batchMessages?: number;
}

interface WindowState {
  readonly task: WindowTask;
  readonly engine: WindowEngine;
  /** Last emitted bounds of open sessions, so a version with moved bounds deletes the old row. */
  readonly sessions: Map<string, SessionBounds>;
  /** Late messages of the batch in hand, counted once they are stored. */
  late: number;
}

interface WindowSnapshot {
  engine: EngineSnapshot;
  sessions: Array<[string, SessionBounds]>;
}

const decoder = new TextDecoder();

/** The partition token of `events.<source>.<n>`, NaN for another subject; remembered per subject (there are sources × partitions). */
const partitions = new Map<string, number>();
function partitionOfSubject(subject: string): number {
  let p = partitions.get(subject);
  if (p === undefined) {
    p = parseEventsSubject(subject)?.partition ?? NaN;
    if (Number.isInteger(p) && partitions.size < 4_096) partitions.set(subject, p);
  }
  return p;
}

/**
 * The window actor as a keyed actor (actors/runtime/keyed/): the engine's full config (tumbling,
 * hopping, session windows; groups; quantiles; distinct counts) over EVENTS, split into tasks
 * (one per partition for the entity key's windows, one for the payload-field groups; see
 * tasks.ts). The keyed runner owns leases, fencing, checkpoints and replay.
 *
 * It reads EVENTS with ordered consumers from checkpointed positions instead of a durable
 * consumer with acks: holding acks until windows close fails after a crash (the redeliveries come
 * ack_wait later, after newer events moved the watermark on). The engine's processing clock is
 * each message's stream timestamp, not the wall clock, so a replay sees the same idle timeouts as
 * the first run did.
 */
export function windowDefinition(opts: WindowActorOptions = {}): KeyedActorDefinition<WindowState, WindowTask> {
  const partitions = opts.partitions ?? DEFAULT_PARTITIONS;
  const groupShards = opts.groupShards ?? DEFAULT_GROUP_SHARDS;
  const config = opts.config ?? defaultWindowConfig;
  const tasks = windowTasks(config, partitions, groupShards, opts.idleMs);
  const shaped = configShape(config, partitions, opts.idleMs);
  const quietThrough = retiredTaskCheckpoint("window", RETIRED_GROUPS_TASK);
  return defineKeyedActor<WindowState, WindowTask>({
    name: "window",
    reads: { mode: "keyed", stream: "EVENTS", tasks },
    emits: ["AGG", "LATE"],
    batch: { max_messages: opts.batchMessages ?? 1_000, max_wait_ms: 20 },
    // A partition task's output does not depend on how the groups are sharded, so changing
    // SLUICE_GROUP_SHARDS keeps its checkpoint (and its ids); a group task's names the shard count.
    fingerprint: (task) => (task.partition === undefined ? fingerprintOf([shaped, groupShards]) : shaped),
    // The group tasks replaced one `groups` task: what it published is not published again.
    outputsDoneThrough: async (task, io) => (task.partition === undefined ? quietThrough(task, io) : 0),
    createState: (task) => ({ task, engine: createWindowEngine(task.config), sessions: new Map(), late: 0 }),
    snapshot(state) {
      // Sessions past their end plus the lateness can no longer change: nothing refers to them again.
      purgeSessions(state.sessions, (source) => horizon(state, source));
      return { engine: state.engine.snapshot(), sessions: [...state.sessions] } satisfies WindowSnapshot;
    },
    restore(task, snapshot) {
      const s = snapshot as WindowSnapshot;
      const engine = createWindowEngine(task.config);
      engine.restore(s.engine);
      return { task, engine, sessions: new Map(s.sessions), late: 0 };
    },
    handle(state, batch, ctx) {
      const { task, engine, sessions } = state;
      for (const input of batch) {
        const partition = partitionOfSubject(input.subject);
        let results: Output[];
        try {
          if (!Number.isInteger(partition)) throw new Error(`subject ${input.subject} has no partition token`);
          const envelope = JSON.parse(decoder.decode(input.data)) as Envelope;
          results = engine.onEvent(envelope, task.enginePartition(partition), input.timestampMs);
        } catch (err) {
          ctx.reject(input, new PoisonError(err instanceof SyntaxError ? "json" : "window_input", `${input.subject} (seq ${input.seq}): ${describeError(err)}`, { cause: err }));
          continue;
        }
        if (results.length === 0) continue;
        for (const out of toMessages(results, { task: task.id, scope: ctx.scope, partition, emittedAt: input.timestampMs, sessions })) {
          if (out.subject.startsWith("late.")) state.late++;
          ctx.emit(input, out);
        }
      }
    },
    report(state, task, { seq, span }) {
      countLate(state.late);
      state.late = 0;
      const now = Date.now();
      for (const [source, s] of Object.entries(state.engine.status(now))) {
        if (!s) continue;
        setGauge({
          task: task.id, source, watermark: s.watermark, lag_ms: s.lag_ms, buffered: s.buffered, open_windows: s.open_windows,
          events: s.events, late_events: s.late_events, seq, updated_at: now,
        });
        if (s.watermark !== null) {
          span.setAttribute(`sluice.window.watermark.${source}`, s.watermark);
          span.setAttribute(`sluice.window.lag_ms.${source}`, s.lag_ms ?? 0);
        }
      }
    },
    taskStopped: (task) => dropTaskGauges(task.id),
  });
}

export function windowActor(opts: WindowActorOptions = {}): LoopActor {
  return keyedActor(windowDefinition(opts), opts);
}

/**
 * The fingerprint every task had before the group windows were sharded: the partition count and
 * each task's config in the layout of then (`p<n>` and one `groups` task). Kept as it was, so the
 * partition tasks resume from their checkpoints under the same output ids across the upgrade; it
 * still hashes the whole window config.
 */
function configShape(config: WindowConfig, partitions: number, idleMs: number | undefined): string {
  return fingerprintOf([partitions, layoutBeforeGroupShards(config, partitions, idleMs).map(([id, c]) => [id, configFingerprint(c)])]);
}

/** Event time before which a source's sessions can no longer change. */
function horizon(state: WindowState, source: string): number | null {
  const wm = state.engine.watermark(source as Source);
  const sc = state.task.config.sources[source as Source];
  return wm === null || !sc ? null : wm - sc.allowedLatenessMs;
}
