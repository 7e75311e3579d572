import { randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { NATS_CLIENT_TIMEOUT_MS, withDeadline } from "../../../nats/deadline.ts";
import { isLeaseLost, keyedBuckets, type Lease } from "./ownership.ts";
import type { FencePosition } from "./fence.ts";
import { readRetrying } from "../transient.ts";

/**
 * A task's state and the stream position it covers: `state` has folded in every message of the
 * task's filter up to and including `seq`, and every output those messages produced is stored.
 * Resuming means restore and read from `seq + 1`.
 */
export interface Checkpoint {
  format: 2;
  actor: string;
  task: string;
  /** The actor's fingerprint when it was taken; under another one the task rebuilds from the stream's start. */
  fingerprint: string;
  seq: number;
  /** What the actor's `snapshot` returned. */
  state: unknown;
  /**
   * Before fencing, for an actor that batches outputs (KeyedActorDefinition.batchOutputs): the output stream's
   * sequence of the last batch stored before this checkpoint. A restore reads that stream's
   * batches after it to learn which inputs the interrupted run already stored.
   */
  batchedThrough?: number;
  /**
   * For an actor that batches outputs, since batched publishes are fenced (fence.ts): per output
   * subject, the sequence through which the task knew what was stored there. Replaces
   * `batchedThrough`, which a restore still reads in a checkpoint taken before.
   */
  fence?: FencePosition;
  savedAt: number;
}

export class CheckpointError extends Error {
  constructor(actor: string, task: string, message: string, options?: { cause?: unknown }) {
    super(`${actor} checkpoint of task ${task}: ${message}`, options);
    this.name = "CheckpointError";
  }
}

// A snapshot is megabytes: more time than a KV call, still bounded.
const OBJECT_TIMEOUT_MS = 30_000;
/**
 * A checkpoint read: short tries first (one sent to a leader that just died is never answered,
 * and the election is over within seconds), then the whole object-store deadline, which a large
 * snapshot on a loaded machine may need.
 */
const OBJECT_READ_ATTEMPTS_MS = [8_000, 8_000, OBJECT_TIMEOUT_MS];

/**
 * Checkpoints in the NATS object store (`sluice-<actor>-state`): a snapshot can be megabytes,
 * above KV's value limit (the server's max_payload, 1 MB by default); the object store chunks it.
 * gzip shrinks the JSON several times.
 *
 * The object store has no compare-and-set, so a checkpoint is never overwritten: each is a new
 * object under a name of its own, and it becomes the task's checkpoint only when the lease
 * entry's pointer moves to it (a CAS on the lease, see {@link Lease.commit}). A writer that lost
 * its lease leaves the pointer where the new holder put it; a crash between put and commit leaves
 * the previous checkpoint current.
 */
export class CheckpointStore {
  readonly actor: string;
  readonly bucket: string;
  private readonly store: ObjectStore;
  private constructor(actor: string, bucket: string, store: ObjectStore) {
    this.actor = actor;
    this.bucket = bucket;
    this.store = store;
  }

  static async open(nc: NatsConnection, actor: string, signal?: AbortSignal): Promise<CheckpointStore> {
    const bucket = keyedBuckets(actor).state;
    const store = await withDeadline(() => new Objm(jetstream(nc, { timeout: NATS_CLIENT_TIMEOUT_MS })).create(bucket, { storage: "file" }), { what: `object store ${bucket} open`, signal });
    return new CheckpointStore(actor, bucket, store);
  }

  /** The checkpoint the lease points to, or undefined for a task never checkpointed (or only in a format before this one). */
  async load(lease: Lease, signal?: AbortSignal): Promise<Checkpoint | undefined> {
    const { task } = lease;
    const name = lease.checkpoint?.object;
    if (!name) return undefined;
    const blob = await readRetrying(() => this.store.getBlob(name), { what: `object store ${this.bucket} get ${name}`, signal, attemptsMs: OBJECT_READ_ATTEMPTS_MS });
    if (!blob) throw new CheckpointError(this.actor, task, `the lease points to object ${name}, which is missing from ${this.bucket}`);
    try {
      const cp = JSON.parse(gunzipSync(blob).toString("utf8")) as Checkpoint;
      if (cp.format !== 2 || cp.actor !== this.actor || cp.task !== task) throw new Error(`expected format 2 of ${this.actor}/${task}, got format ${cp.format} of ${cp.actor}/${cp.task}`);
      return cp;
    } catch (cause) {
      throw new CheckpointError(this.actor, task, `stored object ${name} is not a readable checkpoint`, { cause });
    }
  }

  /**
   * Stores `cp` and moves the lease's pointer to it. Throws LeaseLostError, with nothing made
   * current, once the lease is lost. Returns the stored size in bytes.
   */
  async save(cp: Checkpoint, lease: Lease, signal?: AbortSignal): Promise<number> {
    const data = gzipSync(JSON.stringify(cp), { level: 1 });
    const previous = lease.checkpoint?.object;
    // Unique even when an earlier commit's answer was lost: a retry never overwrites what a pointer may name.
    const name = `${cp.task}.${lease.token}.${randomUUID().slice(0, 8)}`;
    await withDeadline(() => this.store.putBlob({ name }, data), { what: `object store ${this.bucket} put ${name}`, signal, timeoutMs: OBJECT_TIMEOUT_MS });
    try {
      await lease.commit({ object: name, seq: cp.seq }, signal);
    } catch (err) {
      // Refused: nothing points to the new object. Timed out: the pointer may have moved to it after all.
      if (isLeaseLost(err)) await this.forget(name, signal);
      throw err;
    }
    // Before fencing a task's checkpoint was the object named after the task: superseded now.
    await this.forget(previous ?? cp.task, signal);
    return data.length;
  }

  /** Deletes an object no pointer refers to; a leftover only costs space, so failures are ignored. */
  private async forget(name: string, signal?: AbortSignal): Promise<void> {
    await withDeadline(() => this.store.delete(name), { what: `object store ${this.bucket} delete ${name}`, signal }).catch(() => undefined);
  }
}
