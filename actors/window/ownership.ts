import { createHash, randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { collect, withDeadline } from "../../nats/deadline.ts";

export const MEMBERS_BUCKET = "sluice-window-members";
export const LEASES_BUCKET = "sluice-window-leases";

export interface OwnershipOptions {
  /** A member whose heartbeat is older than this is gone; its leases may be taken. */
  readonly memberTtlMs?: number;
  readonly heartbeatMs?: number;
}

/**
 * Who runs which window task. Every instance heartbeats its id into a KV bucket whose entries
 * expire (`ttl`); the live ids, sorted, decide each task's owner by rendezvous hashing, so a
 * join or leave moves only the tasks that must move. A task is run only under a lease: a KV
 * key per task holding the owner id, taken with `create` (no holder) or `update` at the seen
 * revision (the holder is no longer a member), so two instances cannot both take it. The
 * previous owner gives a task up (final checkpoint, then lease delete) before the next takes it.
 *
 * Every KV call has a deadline and ends when the caller's signal aborts: a `keys()` whose pull is
 * never answered must not keep the rebalance loop (and SIGTERM) waiting.
 */
export class Ownership {
  readonly id = randomUUID().slice(0, 8);
  private readonly members: KV;
  private readonly leases: KV;
  private readonly heartbeatMs: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private heartbeatError: unknown;

  private constructor(members: KV, leases: KV, heartbeatMs: number) {
    this.members = members;
    this.leases = leases;
    this.heartbeatMs = heartbeatMs;
  }

  static async open(nc: NatsConnection, opts: OwnershipOptions = {}, signal?: AbortSignal): Promise<Ownership> {
    const kvm = new Kvm(nc);
    const ttl = opts.memberTtlMs ?? 4_000;
    const members = await withDeadline(() => kvm.create(MEMBERS_BUCKET, { ttl, history: 1 }), { what: `kv ${MEMBERS_BUCKET} open`, signal });
    const leases = await withDeadline(() => kvm.create(LEASES_BUCKET, { history: 1 }), { what: `kv ${LEASES_BUCKET} open`, signal });
    return new Ownership(members, leases, opts.heartbeatMs ?? Math.max(250, Math.floor(ttl / 4)));
  }

  async join(signal?: AbortSignal): Promise<void> {
    await this.beat(signal);
    // A beat is due every heartbeatMs; one that outlives that is as good as missed.
    this.timer = setInterval(() => void this.beat(undefined, this.heartbeatMs).catch((err) => (this.heartbeatError ??= err)), this.heartbeatMs);
  }

  private async beat(signal?: AbortSignal, timeoutMs?: number): Promise<void> {
    await withDeadline(() => this.members.put(this.id, JSON.stringify({ at: Date.now() })), { what: `kv ${MEMBERS_BUCKET} put ${this.id}`, signal, timeoutMs });
  }

  async liveMembers(signal?: AbortSignal): Promise<string[]> {
    if (this.heartbeatError) throw this.heartbeatError;
    const ids = new Set<string>([this.id]);
    // keys() is called inside the deadline: a call made after an abort would leave its rejection unhandled.
    const keys = await withDeadline(() => collect(this.members.keys(), { what: `kv ${MEMBERS_BUCKET} keys` }), { what: `kv ${MEMBERS_BUCKET} keys`, signal });
    for (const key of keys) ids.add(key);
    return [...ids].sort();
  }

  /** The tasks this instance should run, given the live members. */
  static assign(tasks: readonly string[], members: readonly string[], me: string): string[] {
    return tasks.filter((task) => owner(task, members) === me);
  }

  /** Takes the task's lease; false while another live member holds it. */
  async acquire(task: string, live: readonly string[], signal?: AbortSignal): Promise<boolean> {
    if (await this.tryCreate(task, signal)) return true;
    const entry = await withDeadline(() => this.leases.get(task), { what: `kv ${LEASES_BUCKET} get ${task}`, signal });
    if (!entry || entry.operation !== "PUT") return this.tryCreate(task, signal);
    const holder = entry.string();
    if (holder === this.id) return true;
    if (live.includes(holder)) return false;
    try {
      await withDeadline(() => this.leases.update(task, this.id, entry.revision), { what: `kv ${LEASES_BUCKET} update ${task}`, signal });
      return true;
    } catch (err) {
      if (isWrongRevision(err)) return false;
      throw err;
    }
  }

  private async tryCreate(task: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await withDeadline(() => this.leases.create(task, this.id), { what: `kv ${LEASES_BUCKET} create ${task}`, signal });
      return true;
    } catch (err) {
      if (isWrongRevision(err)) return false;
      throw err;
    }
  }

  async release(task: string, signal?: AbortSignal): Promise<void> {
    const entry = await withDeadline(() => this.leases.get(task), { what: `kv ${LEASES_BUCKET} get ${task}`, signal });
    if (entry?.operation === "PUT" && entry.string() === this.id) {
      await withDeadline(() => this.leases.delete(task), { what: `kv ${LEASES_BUCKET} delete ${task}`, signal });
    }
  }

  /** Holder of each task's lease (for tests and status). */
  async holders(tasks: readonly string[], signal?: AbortSignal): Promise<Record<string, string | null>> {
    const out: Record<string, string | null> = {};
    for (const t of tasks) {
      const e = await withDeadline(() => this.leases.get(t), { what: `kv ${LEASES_BUCKET} get ${t}`, signal });
      out[t] = e?.operation === "PUT" ? e.string() : null;
    }
    return out;
  }

  async leave(signal?: AbortSignal): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await withDeadline(() => this.members.delete(this.id), { what: `kv ${MEMBERS_BUCKET} delete ${this.id}`, signal }).catch(() => undefined);
  }
}

/** A create or update refused because the key moved on: someone else holds the lease. */
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
