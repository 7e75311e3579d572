import { gunzipSync, gzipSync } from "node:zlib";
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { EngineSnapshot } from "../../windowing/index.ts";
import { withDeadline } from "../../nats/deadline.ts";

/** Object store bucket holding one checkpoint object per window task. */
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

/**
 * Checkpoints in the NATS object store: a snapshot is megabytes (DDSketch bins, buffered events),
 * above KV's value limit (the server's max_payload, 1 MB by default); the object store chunks it.
 * gzip shrinks the JSON several times. A put replaces the object only once all its chunks are
 * stored, so a crash mid-put leaves the previous checkpoint readable.
 */
export class CheckpointStore {
  private readonly store: ObjectStore;
  private constructor(store: ObjectStore) {
    this.store = store;
  }

  static async open(nc: NatsConnection, signal?: AbortSignal): Promise<CheckpointStore> {
    return new CheckpointStore(await withDeadline(() => new Objm(nc).create(STATE_BUCKET, { storage: "file" }), { what: `object store ${STATE_BUCKET} open`, signal }));
  }

  async load(task: string, signal?: AbortSignal): Promise<Checkpoint | undefined> {
    // A snapshot is megabytes: more time than a KV call, still bounded.
    const blob = await withDeadline(() => this.store.getBlob(task), { what: `object store ${STATE_BUCKET} get ${task}`, signal, timeoutMs: 30_000 });
    if (!blob) return undefined;
    try {
      const cp = JSON.parse(gunzipSync(blob).toString("utf8")) as Checkpoint;
      if (cp.format !== 1 || cp.task !== task) throw new Error(`unexpected format ${cp.format} or task ${cp.task}`);
      return cp;
    } catch (cause) {
      throw new CheckpointError(task, "stored object is not a readable checkpoint", { cause });
    }
  }

  /** Returns the stored size in bytes. */
  async save(cp: Checkpoint, signal?: AbortSignal): Promise<number> {
    const data = gzipSync(JSON.stringify(cp), { level: 1 });
    await withDeadline(() => this.store.putBlob({ name: cp.task }, data), { what: `object store ${STATE_BUCKET} put ${cp.task}`, signal, timeoutMs: 30_000 });
    return data.length;
  }
}
