import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { CONSUMERS, consumerConfig } from "../subjects/consumers.ts";
import { allConsumerPositions, allMetrics } from "./metrics.ts";

/** Pending work of one durable consumer: not yet delivered, and delivered but unacked. */
export interface ConsumerLag {
  consumer: string;
  stream: string;
  pending: number;
  ackPending: number;
}

/**
 * Lag of every durable consumer in the catalog that exists on the server. A consumer read in this
 * process: the stream's last sequence minus what the runtime has seen delivered (its own count of
 * unacked messages as ack pending). Another process's: `consumer info`, which only an unfiltered
 * consumer (all of the catalog's, see `consumerConfig`) answers without sending nats-server
 * 2.9.10 into rescanning its backlog on every delivery; a filtered one is left out.
 */
export function consumerLag(nc: NatsConnection): () => Promise<ConsumerLag[]> {
  return async () => {
    const jsm = await jetstreamManager(nc);
    const lastSeqs = new Map<string, Promise<number | undefined>>();
    const lastSeq = (stream: string) => {
      let seq = lastSeqs.get(stream);
      if (!seq) lastSeqs.set(stream, (seq = jsm.streams.info(stream).then((i) => i.state.last_seq, () => undefined)));
      return seq;
    };
    const positions = allConsumerPositions();
    const metrics = allMetrics();
    const out: ConsumerLag[] = [];
    for (const def of Object.values(CONSUMERS)) {
      const here = positions.get(`${def.stream}/${def.durable_name}`);
      if (here) {
        // Its actor is starting: the position comes with its consumer.
        if (here.deliveredSeq < 0) continue;
        const last = await lastSeq(def.stream);
        const pending = here.wholeStream && last !== undefined ? Math.max(0, last - here.deliveredSeq) : here.pending;
        const m = metrics.get(here.actor);
        out.push({ consumer: def.durable_name, stream: def.stream, pending, ackPending: (m?.inFlight ?? 0) + (m?.held ?? 0) });
        continue;
      }
      if (consumerConfig(def).filter_subject !== undefined) continue;
      const info = await jsm.consumers.info(def.stream, def.durable_name).catch(() => undefined);
      if (info) out.push({ consumer: def.durable_name, stream: def.stream, pending: info.num_pending, ackPending: info.num_ack_pending });
    }
    return out;
  };
}
