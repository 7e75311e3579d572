import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { withDeadline } from "../../../nats/deadline.ts";

/**
 * `outputsDoneThrough` for a stage that read a durable consumer before it became keyed: what that
 * consumer acknowledged was answered then, so a task's first start folds it without publishing it
 * again. 0 when the durable does not exist (a new deployment). Remove the durable afterwards with
 * `nats consumer rm <stream> <durable>`; sluice no longer reads it.
 */
export function durableAckFloor(stream: string, durable: string) {
  return async (_task: unknown, io: { readonly nc: NatsConnection; readonly signal: AbortSignal }): Promise<number> => {
    const jsm = await jetstreamManager(io.nc);
    try {
      const info = await withDeadline(() => jsm.consumers.info(stream, durable), { what: `consumer ${stream}/${durable} info`, signal: io.signal });
      return info.ack_floor.stream_seq;
    } catch (err) {
      if (/consumer not found/i.test(err instanceof Error ? err.message : String(err))) return 0;
      throw err;
    }
  };
}
