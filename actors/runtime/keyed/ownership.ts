import { createHash, randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { NATS_CLIENT_TIMEOUT_MS, withDeadline } from "../../../nats/deadline.ts";
import { readRetrying } from "../transient.ts";

/** The KV and object store buckets of one keyed actor (the window actor's names predate the keyed runner and fit the scheme). */
export function keyedBuckets(actor: string): { members: string; leases: string; state: string } {
  return { members: `sluice-${actor}-members`, leases: `sluice-${actor}-leases`, state: `sluice-${actor}-state` };
}

export interface OwnershipOptions {
  /** A member whose heartbeat is older than this is gone; its leases may be taken. */
  readonly memberTtlMs?: number;
  readonly heartbeatMs?: number;
}

/** Where a task's latest checkpoint is: written with the lease, so only the lease holder can move it. */
export interface CheckpointPointer {
  /** Object name in the state bucket. */
  readonly object: string;
  /** Last stream sequence the checkpoint covers. */
  readonly seq: number;
}

/** A task's lease entry: the holder (null once released) and the task's checkpoint pointer. */
export interface LeaseValue {
  readonly holder: string | null;
  readonly checkpoint?: CheckpointPointer;
}

/** The task's lease moved to another holder (or was released by force): this instance must stop the task. */
export class LeaseLostError extends Error {
  readonly task: string;
  constructor(bucket: string, task: string, me: string, token: number, seen: { holder: string | null; revision: number } | undefined, doing: string) {
    const now = seen ? `held by ${seen.holder ?? "nobody"} at revision ${seen.revision}` : "moved on";
    super(`kv ${bucket} task ${task}: lease of instance ${me} at revision ${token} is lost (now ${now}); refused to ${doing}`);
    this.name = "LeaseLostError";
    this.task = task;
  }
}

export function isLeaseLost(err: unknown): err is LeaseLostError {
  return err instanceof Error && err.name === "LeaseLostError";
}

const encoder = new TextEncoder();

/**
 * A lease read (leases buckets read from their leader only, see actors/replication.ts): short
 * tries, since one sent to a leader that just died is never answered; together about as long as
 * the one 5 s try they replace, plus a last one for a loaded machine.
 */
const KV_READ_ATTEMPTS_MS = [2_500, 2_500, 5_000];

/** A lease entry's value, as written now or before fencing. */
export function parseLease(raw: string): LeaseValue {
  // Before fencing, a lease value was the bare holder id.
  if (!raw.startsWith("{")) return { holder: raw };
  const v = JSON.parse(raw) as LeaseValue;
  return { holder: typeof v.holder === "string" ? v.holder : null, checkpoint: v.checkpoint };
}

/**
 * One task's lease as this instance holds it. `token` is the KV revision of the lease entry as
 * this instance last wrote it; every write is an `update` at that revision, so a write after
 * another instance took the lease fails. The checkpoint pointer lives in the same entry: moving
 * the checkpoint is the fencing check.
 */
export class Lease {
  readonly task: string;
  readonly holder: string;
  private readonly kv: KV;
  private readonly bucket: string;
  private revision: number;
  private value: LeaseValue;

  constructor(kv: KV, bucket: string, task: string, holder: string, revision: number, value: LeaseValue) {
    this.kv = kv;
    this.bucket = bucket;
    this.task = task;
    this.holder = holder;
    this.revision = revision;
    this.value = value;
  }

  get token(): number {
    return this.revision;
  }

  /** The checkpoint the task resumes from (read atomically with the lease). */
  get checkpoint(): CheckpointPointer | undefined {
    return this.value.checkpoint;
  }

  /** Throws {@link LeaseLostError} unless the lease entry is still the one this instance wrote. */
  async check(doing: string, signal?: AbortSignal): Promise<void> {
    const entry = await readRetrying(() => this.kv.get(this.task), { what: `kv ${this.bucket} get ${this.task}`, signal, attemptsMs: KV_READ_ATTEMPTS_MS });
    const seen = entry?.operation === "PUT" ? { holder: parseLease(entry.string()).holder, revision: entry.revision } : undefined;
    if (!seen || entry!.revision !== this.revision || seen.holder !== this.holder) {
      throw new LeaseLostError(this.bucket, this.task, this.holder, this.revision, seen, doing);
    }
  }

  /** Moves the checkpoint pointer, compare-and-set on the lease: refused once the lease is lost. */
  async commit(checkpoint: CheckpointPointer, signal?: AbortSignal): Promise<void> {
    await this.write({ holder: this.holder, checkpoint }, `move the checkpoint to sequence ${checkpoint.seq}`, signal);
  }

  /** Gives the task up, keeping the checkpoint pointer for the next holder. */
  async release(signal?: AbortSignal): Promise<void> {
    await this.write({ holder: null, checkpoint: this.value.checkpoint }, "release the lease", signal).catch((err) => {
      if (!isLeaseLost(err)) throw err;
    });
  }

  private async write(value: LeaseValue, doing: string, signal?: AbortSignal): Promise<void> {
    try {
      this.revision = await withDeadline(() => this.kv.update(this.task, encoder.encode(JSON.stringify(value)), this.revision), { what: `kv ${this.bucket} update ${this.task}`, signal });
      this.value = value;
    } catch (err) {
      if (isWrongRevision(err)) throw new LeaseLostError(this.bucket, this.task, this.holder, this.revision, undefined, doing);
      throw err;
    }
  }
}

/**
 * Who runs which task of a keyed actor. Every instance heartbeats its id into a KV bucket whose entries
 * expire (`ttl`); the live ids, sorted, decide each task's owner by rendezvous hashing, so a
 * join or leave moves only the tasks that must move. A task is run only under a {@link Lease}: a
 * KV key per task, taken with `create` (never held) or `update` at the seen revision (released,
 * or the holder is no longer a member), so two instances cannot both take it, and every later
 * write of the holder is an `update` at its own last revision, so a holder that was stalled past
 * its membership and replaced cannot write. The previous owner gives a task up (final
 * checkpoint, then release) before the next takes it.
 *
 * Every KV call has a deadline and ends when the caller's signal aborts: a `keys()` whose pull is
 * never answered must not keep the rebalance loop (and SIGTERM) waiting.
 */
export class Ownership {
  readonly id = randomUUID().slice(0, 8);
  private readonly jsm: JetStreamManager;
  private readonly members: KV;
  private readonly leases: KV;
  private readonly names: { members: string; leases: string };
  private readonly heartbeatMs: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastBeatAt = 0;
  private readonly ttlMs: number;

  private constructor(jsm: JetStreamManager, members: KV, leases: KV, names: { members: string; leases: string }, heartbeatMs: number, ttlMs: number) {
    this.jsm = jsm;
    this.ttlMs = ttlMs;
    this.members = members;
    this.leases = leases;
    this.names = names;
    this.heartbeatMs = heartbeatMs;
  }

  static async open(nc: NatsConnection, actor: string, opts: OwnershipOptions = {}, signal?: AbortSignal): Promise<Ownership> {
    // Every call below has its own deadline, which survives a stall of this process (nats/deadline.ts).
    const kvm = new Kvm(jetstream(nc, { timeout: NATS_CLIENT_TIMEOUT_MS }));
    const names = keyedBuckets(actor);
    const ttl = opts.memberTtlMs ?? 4_000;
    const members = await withDeadline(() => kvm.create(names.members, { ttl, history: 1 }), { what: `kv ${names.members} open`, signal });
    const leases = await withDeadline(() => kvm.create(names.leases, { history: 1 }), { what: `kv ${names.leases} open`, signal });
    const jsm = await withDeadline(() => jetstreamManager(nc, { timeout: NATS_CLIENT_TIMEOUT_MS }), { what: "jetstream manager", signal });
    return new Ownership(jsm, members, leases, names, opts.heartbeatMs ?? Math.max(250, Math.floor(ttl / 4)), ttl);
  }

  async join(signal?: AbortSignal): Promise<void> {
    await this.beat(signal);
    // A beat is due every heartbeatMs; one that outlives that is as good as missed.
    this.timer = setInterval(() => void this.beat(undefined, this.heartbeatMs).catch(() => undefined), this.heartbeatMs);
  }

  private async beat(signal?: AbortSignal, timeoutMs?: number): Promise<void> {
    await withDeadline(() => this.members.put(this.id, JSON.stringify({ at: Date.now() })), { what: `kv ${this.names.members} put ${this.id}`, signal, timeoutMs });
    this.lastBeatAt = Date.now();
  }

  async liveMembers(signal?: AbortSignal): Promise<string[]> {
    // Missed beats (a loaded or stalled process) are harmless: leases, not membership, fence the
    // tasks, and a task whose lease was taken meanwhile stops on its next lease check. A member
    // whose entry may have expired puts it back before it counts the others.
    if (Date.now() - this.lastBeatAt > this.ttlMs) await this.beat(signal);
    const ids = new Set<string>([this.id]);
    // Not `keys()`: its ordered consumer over a bucket whose entries expire was seen waiting past
    // any deadline under load (detect crashed every few minutes at 500 events/s). The stream's
    // subject list is one request, and each key's last entry one more (members are few).
    const stream = `KV_${this.names.members}`;
    const prefix = `$KV.${this.names.members}.`;
    const info = await withDeadline(() => this.jsm.streams.info(stream, { subjects_filter: ">" }), { what: `kv ${this.names.members} members`, signal });
    const keys = Object.keys(info.state.subjects ?? {}).filter((s) => s.startsWith(prefix)).map((s) => s.slice(prefix.length));
    const entries = await Promise.all(keys.map((key) => withDeadline(() => this.members.get(key), { what: `kv ${this.names.members} get ${key}`, signal })));
    entries.forEach((entry, i) => {
      if (entry?.operation === "PUT") ids.add(keys[i]);
    });
    return [...ids].sort();
  }

  /** The tasks this instance should run, given the live members. */
  static assign(tasks: readonly string[], members: readonly string[], me: string): string[] {
    return tasks.filter((task) => owner(task, members) === me);
  }

  /** Takes the task's lease; undefined while another live member holds it. */
  async acquire(task: string, live: readonly string[], signal?: AbortSignal): Promise<Lease | undefined> {
    const entry = await readRetrying(() => this.leases.get(task), { what: `kv ${this.names.leases} get ${task}`, signal, attemptsMs: KV_READ_ATTEMPTS_MS });
    const mine: LeaseValue = { holder: this.id };
    try {
      if (!entry) {
        const revision = await withDeadline(() => this.leases.create(task, JSON.stringify(mine)), { what: `kv ${this.names.leases} create ${task}`, signal });
        return new Lease(this.leases, this.names.leases, task, this.id, revision, mine);
      }
      const seen = entry.operation === "PUT" ? parseLease(entry.string()) : { holder: null };
      if (seen.holder !== null && seen.holder !== this.id && live.includes(seen.holder)) return undefined;
      const taken: LeaseValue = { holder: this.id, checkpoint: seen.checkpoint };
      const revision = await withDeadline(() => this.leases.update(task, JSON.stringify(taken), entry.revision), { what: `kv ${this.names.leases} update ${task}`, signal });
      return new Lease(this.leases, this.names.leases, task, this.id, revision, taken);
    } catch (err) {
      if (isWrongRevision(err)) return undefined;
      throw err;
    }
  }

  async leave(signal?: AbortSignal): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await withDeadline(() => this.members.delete(this.id), { what: `kv ${this.names.members} delete ${this.id}`, signal }).catch(() => undefined);
  }
}

/** A create or update refused because the key moved on: someone else wrote the lease first. */
function isWrongRevision(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

function owner(task: string, members: readonly string[]): string {
  let best = "";
  let bestScore = "";
  for (const m of members) {
    const score = createHash("sha256").update(`${m}/${task}`).digest("hex");
    if (score > bestScore) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}
