import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { NATS_CLIENT_TIMEOUT_MS, withDeadline } from "../../../nats/deadline.ts";
import { keyedBuckets, parseLease } from "./ownership.ts";

/**
 * `outputsDoneThrough` for a stage that read a durable consumer before it became keyed: what that
 * consumer acknowledged was answered then, so a task's first start folds it without publishing it
 * again. 0 when the durable does not exist (a new deployment). Remove the durable afterwards with
 * `nats consumer rm <stream> <durable>`; sluice no longer reads it.
 */
export function durableAckFloor(stream: string, durable: string) {
  return async (_task: unknown, io: { readonly nc: NatsConnection; readonly signal: AbortSignal }): Promise<number> => {
    // The calls below have deadlines of their own that survive a stall of this process (nats/deadline.ts).
    const jsm = await jetstreamManager(io.nc, { timeout: NATS_CLIENT_TIMEOUT_MS });
    try {
      const info = await withDeadline(() => jsm.consumers.info(stream, durable), { what: `consumer ${stream}/${durable} info`, signal: io.signal });
      return info.ack_floor.stream_seq;
    } catch (err) {
      if (/consumer not found/i.test(err instanceof Error ? err.message : String(err))) return 0;
      throw err;
    }
  };
}

/**
 * `outputsDoneThrough` for tasks that replace a retired task of the same actor (the window
 * actor's one `groups` task became a task per source and group shard). The retired task's last
 * checkpoint means every output of the messages up to its sequence is stored, so each new task
 * folds those from the start of the stream and publishes only what follows. 0 when the retired
 * task never ran. Only an instance that no longer runs the retired task may start the new ones:
 * stop every old instance (SIGTERM writes its last checkpoint) before starting a new one.
 */
export function retiredTaskCheckpoint(actor: string, retired: string) {
  return async (_task: unknown, io: { readonly nc: NatsConnection; readonly signal: AbortSignal }): Promise<number> => {
    const bucket = keyedBuckets(actor).leases;
    const kv = await withDeadline(() => new Kvm(jetstream(io.nc, { timeout: NATS_CLIENT_TIMEOUT_MS })).create(bucket, { history: 1 }), { what: `kv ${bucket} open`, signal: io.signal });
    const entry = await withDeadline(() => kv.get(retired), { what: `kv ${bucket} get ${retired}`, signal: io.signal });
    if (!entry || entry.operation !== "PUT") return 0;
    return parseLease(entry.string()).checkpoint?.seq ?? 0;
  };
}
