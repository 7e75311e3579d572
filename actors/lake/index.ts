import { setTimeout as sleep } from "node:timers/promises";
import { subject } from "../../subjects/catalog.ts";
import { SOURCES } from "../../subjects/sources.ts";
import type { ClickHouseClient } from "@clickhouse/client";
import {
  addRow,
  borrowedEngine,
  DATASETS,
  eventIndexOf,
  lakeRowOf,
  LakeStore,
  LakeStoreError,
  openMemoryEngine,
  restoreOpenFile,
  snapshotOpenFile,
  type Dataset,
  type FileLimits,
  type LakeEngine,
  type LakeLocation,
  type OpenFile,
  type OpenFileSnapshot,
} from "../../lake/index.ts";
import type { Inbound, Logger } from "../runtime/actor.ts";
import { defineKeyedActor, fingerprintOf, type KeyedActorDefinition, type TaskSpec } from "../runtime/keyed/actor.ts";
import { keyedActor, type KeyedRunOptions } from "../runtime/keyed/run.ts";
import type { LoopActor } from "../runtime/supervisor.ts";
import { ownedBy, validateTasks } from "../validate/tasks.ts";

export interface LakeActorOptions extends KeyedRunOptions {
  readonly dataset: Dataset;
  /** Opened once when the actor starts (the engine may be the process's embedded ClickHouse). */
  readonly store: () => Promise<LakeStore>;
  readonly limits: FileLimits;
  readonly batchMessages?: number;
  /** Waits between two attempts at a file the store refused (S3 or the disk away): from `firstMs`, doubling to `maxMs`. */
  readonly retryDelay?: { readonly firstMs: number; readonly maxMs: number };
}

/** A lake task: the messages of one partition source, read in stream order. */
export interface LakeTask extends TaskSpec {
  /** The `source=` partition the task's files go to. */
  readonly source: string;
  /** Whether a message the filter delivers is this task's (RAW's `other` task sees all of RAW). */
  owns(subject: string): boolean;
}

interface LakeState {
  readonly task: LakeTask;
  /** Every message up to here is in a lake file: skipped when read again. */
  doneThrough: number;
  /** For a batch message cut between two files: its events up to this index are in a file; undefined when all of it is. */
  doneIndex: number | undefined;
  /** The file being filled; part of the checkpoint, so no message is in neither a file nor it. */
  open: OpenFile | undefined;
}

interface LakeSnapshot {
  readonly doneThrough: number;
  readonly doneIndex?: number;
  readonly open: OpenFileSnapshot | null;
}

/** RAW is cut like validate cuts it (one task per source, `other` for the rest); EVENTS per source. */
export function lakeTasks(dataset: Dataset): LakeTask[] {
  if (dataset === "raw") return validateTasks().map((t) => ({ id: t.id, filter: t.filter, source: t.id, owns: (s: string) => ownedBy(s) === t.id }));
  return SOURCES.map((source) => ({ id: source, filter: subject.eventsAll(source), source, owns: () => true }));
}

export const LAKE_ACTORS = { raw: "lake-raw", events: "lake-events" } as const satisfies Record<Dataset, string>;

/** Bumped when the files a task cuts from the same messages would change. */
const LAKE_LAYOUT_VERSION = 1;

/**
 * The lake sink of one stream: each task reads its subjects in order from its checkpoint, cuts
 * them into files (lake/cut.ts: the boundaries depend only on the messages), and writes each
 * complete file durably before the task's position may pass it. A crash or a hand-over replays
 * from the checkpoint, whose open file holds the messages not yet in a file, and cuts the same
 * files again: a file rewritten after a crash has the same name and content, so it replaces
 * itself. A task with no usable checkpoint (new, or the limits changed) skips what the lake
 * already holds for it, so no message is ever in two files.
 */
export function lakeDefinition(opts: LakeActorOptions): KeyedActorDefinition<LakeState, LakeTask> {
  const tasks = lakeTasks(opts.dataset);
  const stream = DATASETS[opts.dataset];
  const name = LAKE_ACTORS[opts.dataset];
  const retry = opts.retryDelay ?? { firstMs: 250, maxMs: 30_000 };
  let stopping = new AbortController();
  let store: LakeStore | undefined;
  let log: Logger | undefined;
  const lakeEnd = new Map<string, number>();

  const writeDurably = async (task: LakeTask, file: OpenFile) => {
    const firstSeq = file.rows[0].seq;
    const lastSeq = file.rows[file.rows.length - 1].seq;
    const spec = { dataset: opts.dataset, source: task.source, hourMs: file.hourMs, firstSeq, lastSeq };
    let waitingSince: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await store!.write(spec, file.rows);
        if (waitingSince !== undefined) log?.info(`${name} ${task.id}: lake writes work again after ${((Date.now() - waitingSince) / 1000).toFixed(1)} s`);
        return;
      } catch (err) {
        if ((err as Error).name !== LakeStoreError.name || stopping.signal.aborted) throw err;
        if (waitingSince === undefined) {
          waitingSince = Date.now();
          log?.warn(`${name} ${task.id}: ${(err as Error).message}; retrying (${stream} sequences ${firstSeq}-${lastSeq} wait unacknowledged)`);
        }
        await sleep(Math.min(retry.maxMs, retry.firstMs * 2 ** attempt), undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  };

  return defineKeyedActor<LakeState, LakeTask>({
    name,
    reads: { mode: "keyed", stream, tasks },
    emits: [],
    batch: { max_messages: opts.batchMessages ?? 2_000, max_wait_ms: 20 },
    fingerprint: fingerprintOf([LAKE_LAYOUT_VERSION, opts.dataset, tasks.map((t) => [t.id, t.filter]), opts.limits]),
    async start(ctx) {
      const logger = ctx.log;
      log = logger;
      stopping = new AbortController();
      store = await opts.store();
      for (const task of tasks) {
        const files = await store.list(opts.dataset, task.source);
        lakeEnd.set(task.id, files.reduce((n, f) => Math.max(n, f.lastSeq), 0));
      }
      logger.info(`${name}: writing ${stream} to ${store.location.url} (${[...lakeEnd].map(([t, s]) => `${t} through ${s}`).join(", ")})`);
    },
    stop() {
      stopping.abort();
    },
    createState: (task) => ({ task, doneThrough: lakeEnd.get(task.id) ?? 0, doneIndex: undefined, open: undefined }),
    snapshot: (s): LakeSnapshot => ({ doneThrough: s.doneThrough, ...(s.doneIndex !== undefined ? { doneIndex: s.doneIndex } : {}), open: s.open ? snapshotOpenFile(s.open) : null }),
    restore: (task, snap) => {
      const s = snap as LakeSnapshot;
      return { task, doneThrough: s.doneThrough, doneIndex: s.doneIndex, open: s.open ? restoreOpenFile(s.open) : undefined };
    },
    async handle(state, batch) {
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i];
        if (isInAFile(state, m) || !state.task.owns(m.subject)) continue;
        // The runtime hands a batch message's events over together: the next one is in this batch.
        const moreOfItsMessage = m.index !== undefined && batch[i + 1]?.seq === m.seq;
        const { open, complete } = addRow(state.open, lakeRowOf(m), opts.limits, moreOfItsMessage);
        for (const file of complete) {
          await writeDurably(state.task, file);
          const lastRow = file.rows[file.rows.length - 1];
          state.doneThrough = lastRow.seq;
          state.doneIndex = eventIndexOf(lastRow);
        }
        state.open = open;
      }
    },
  });
}

/** Whether `m` (an event: its sequence and place in its message) is already in a lake file. */
function isInAFile(state: LakeState, m: Inbound): boolean {
  if (m.seq !== state.doneThrough) return m.seq < state.doneThrough;
  return state.doneIndex === undefined || (m.index ?? 0) <= state.doneIndex;
}

export function lakeActor(opts: LakeActorOptions): LoopActor {
  return keyedActor(lakeDefinition(opts), opts);
}

export type LakeActorName = (typeof LAKE_ACTORS)[Dataset];

export interface LakeDeps {
  readonly location: LakeLocation;
  readonly limits: FileLimits;
  /** The process's embedded ClickHouse client when it runs one: the lake must share it (one chDB per process). */
  readonly embedded: () => ClickHouseClient | undefined;
}

/**
 * Both lake sinks over one engine, opened when the first starts: the process's embedded
 * ClickHouse if it has one, else an in-memory chDB. `store` gives the same engine to anything
 * else in the process that reads or writes the lake (the jobs); `close` lets go of it at the end.
 */
export function lakeActors(deps: LakeDeps): { actors: Record<LakeActorName, () => LoopActor>; store(): Promise<LakeStore>; close(): Promise<void> } {
  let engine: Promise<LakeEngine> | undefined;
  const store = async () => {
    engine ??= (async () => {
      const embedded = deps.embedded();
      return embedded ? borrowedEngine(embedded) : openMemoryEngine();
    })();
    return new LakeStore(deps.location, (await engine).client);
  };
  return {
    actors: {
      "lake-raw": () => lakeActor({ dataset: "raw", store, limits: deps.limits }),
      "lake-events": () => lakeActor({ dataset: "events", store, limits: deps.limits }),
    },
    store,
    async close() {
      if (engine) await (await engine).close();
    },
  };
}
