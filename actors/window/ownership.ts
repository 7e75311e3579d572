import { createHash, randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";

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

  static async open(nc: NatsConnection, opts: OwnershipOptions = {}): Promise<Ownership> {
    const kvm = new Kvm(nc);
    const ttl = opts.memberTtlMs ?? 4_000;
    const members = await kvm.create(MEMBERS_BUCKET, { ttl, history: 1 });
    const leases = await kvm.create(LEASES_BUCKET, { history: 1 });
    return new Ownership(members, leases, opts.heartbeatMs ?? Math.max(250, Math.floor(ttl / 4)));
  }

  async join(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch((err) => (this.heartbeatError ??= err)), this.heartbeatMs);
  }

  private async beat(): Promise<void> {
    await this.members.put(this.id, JSON.stringify({ at: Date.now() }));
  }

  async liveMembers(): Promise<string[]> {
    if (this.heartbeatError) throw this.heartbeatError;
    const ids = new Set<string>([this.id]);
    for await (const key of await this.members.keys()) ids.add(key);
    return [...ids].sort();
  }

  /** The tasks this instance should run, given the live members. */
  static assign(tasks: readonly string[], members: readonly string[], me: string): string[] {
    return tasks.filter((task) => owner(task, members) === me);
  }

  /** Takes the task's lease; false while another live member holds it. */
  async acquire(task: string, live: readonly string[]): Promise<boolean> {
    try {
      await this.leases.create(task, this.id);
      return true;
    } catch {
      const entry = await this.leases.get(task);
      if (!entry || entry.operation !== "PUT") return this.acquireFresh(task);
      const holder = entry.string();
      if (holder === this.id) return true;
      if (live.includes(holder)) return false;
      try {
        await this.leases.update(task, this.id, entry.revision);
        return true;
      } catch {
        return false;
      }
    }
  }

  private async acquireFresh(task: string): Promise<boolean> {
    try {
      await this.leases.create(task, this.id);
      return true;
    } catch {
      return false;
    }
  }

  async release(task: string): Promise<void> {
    const entry = await this.leases.get(task);
    if (entry?.operation === "PUT" && entry.string() === this.id) await this.leases.delete(task);
  }

  /** Holder of each task's lease (for tests and status). */
  async holders(tasks: readonly string[]): Promise<Record<string, string | null>> {
    const out: Record<string, string | null> = {};
    for (const t of tasks) {
      const e = await this.leases.get(t);
      out[t] = e?.operation === "PUT" ? e.string() : null;
    }
    return out;
  }

  async leave(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.members.delete(this.id).catch(() => undefined);
  }
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
