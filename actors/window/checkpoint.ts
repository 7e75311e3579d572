import { randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { EngineSnapshot } from "../../windowing/index.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { isLeaseLost, type Lease } from "./ownership.ts";

/** Object store bucket holding the checkpoint objects of the window tasks. */
export const STATE_BUCKET = "sluice-window-state";

/**
 * A task's state and the stream position it covers: `snapshot` has folded in every message of
 * the task's filter up to and including `seq`, and every output it produced is stored in AGG /
 * LATE. Resuming means restore and read from `seq + 1`.
 */
export interface Checkpoint {
  format: 1;
  task: string;
  /** Fingerprint of the engine config; another config rebuilds from the start of EVENTS. */
  config: string;
  seq: number;
  snapshot: EngineSnapshot;
  /** Last emitted bounds of open sessions, so a version with moved bounds deletes the old row. */
  sessions: Array<[string, SessionBounds]>;
  savedAt: number;
}

export interface SessionBounds {
  source: string;
  start: number;
  end: number;
}

export class CheckpointError extends Error {
  constructor(task: string, message: string, options?: { cause?: unknown }) {
    super(`window checkpoint of task ${task}: ${message}`, options);
    this.name = "CheckpointError";
  }
}

// A snapshot is megabytes: more time than a KV call, still bounded.
const OBJECT_TIMEOUT_MS = 30_000;

/**
 * Checkpoints in the NATS object store: a snapshot is megabytes (DDSketch bins, buffered events),
 * above KV's value limit (the server's max_payload, 1 MB by default); the object store chunks it.
 * gzip shrinks the JSON several times.
 *
 * The object store has no compare-and-set, so a checkpoint is never overwritten: each is a new
 * object under a name of its own, and it becomes the task's
 * checkpoint only when the lease entry's pointer moves to it (a CAS on the lease, see
 * {@link Lease.commit}). A writer that lost its lease leaves the pointer where the new holder put
 * it; a crash between put and commit leaves the previous checkpoint current.
 */
export class CheckpointStore {
  private readonly store: ObjectStore;
  private constructor(store: ObjectStore) {
    this.store = store;
  }

  static async open(nc: NatsConnection, signal?: AbortSignal): Promise<CheckpointStore> {
    return new CheckpointStore(await withDeadline(() => new Objm(nc).create(STATE_BUCKET, { storage: "file" }), { what: `object store ${STATE_BUCKET} open`, signal }));
  }

  /** The checkpoint the lease points to; before fencing, a task's checkpoint was the object named after it. */
  async load(lease: Lease, signal?: AbortSignal): Promise<Checkpoint | undefined> {
    const task = lease.task;
    const name = lease.checkpoint?.object ?? task;
    const blob = await withDeadline(() => this.store.getBlob(name), { what: `object store ${STATE_BUCKET} get ${name}`, signal, timeoutMs: OBJECT_TIMEOUT_MS });
    if (!blob) {
      if (lease.checkpoint) throw new CheckpointError(task, `the lease points to object ${name}, which is missing from ${STATE_BUCKET}`);
      return undefined;
    }
    try {
      const cp = JSON.parse(gunzipSync(blob).toString("utf8")) as Checkpoint;
      if (cp.format !== 1 || cp.task !== task) throw new Error(`unexpected format ${cp.format} or task ${cp.task}`);
      return cp;
    } catch (cause) {
      throw new CheckpointError(task, `stored object ${name} is not a readable checkpoint`, { cause });
    }
  }

  /** Stores `cp` and moves the lease's pointer to it; throws LeaseLostError (and stores nothing current) once the lease is lost. Returns the stored size in bytes. */
  async save(cp: Checkpoint, lease: Lease, signal?: AbortSignal): Promise<number> {
    const data = gzipSync(JSON.stringify(cp), { level: 1 });
    const previous = lease.checkpoint?.object ?? cp.task;
    // Unique even when an earlier commit's answer was lost: a retry never overwrites what a pointer may name.
    const name = `${cp.task}.${lease.token}.${randomUUID().slice(0, 8)}`;
    await withDeadline(() => this.store.putBlob({ name }, data), { what: `object store ${STATE_BUCKET} put ${name}`, signal, timeoutMs: OBJECT_TIMEOUT_MS });
    try {
      await lease.commit({ object: name, seq: cp.seq }, signal);
    } catch (err) {
      // Refused: nothing points to the new object. Timed out: the pointer may have moved to it after all.
      if (isLeaseLost(err)) await this.forget(name, signal);
      throw err;
    }
    if (previous !== name) await this.forget(previous, signal);
    return data.length;
  }

  /** Deletes an object no pointer refers to; a leftover only costs space, so failures are ignored. */
  private async forget(name: string, signal?: AbortSignal): Promise<void> {
    await withDeadline(() => this.store.delete(name), { what: `object store ${STATE_BUCKET} delete ${name}`, signal }).catch(() => undefined);
  }
}
