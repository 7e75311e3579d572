import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { LakeRow } from "../../lake/index.ts";
import { collect, withDeadline } from "../../nats/deadline.ts";

/** Environment of a `sluice` child process. */
export type Env = Record<string, string>;

/** Every message a stream holds now, as lake rows, in stream order. */
export async function readStream(nc: NatsConnection, stream: string): Promise<LakeRow[]> {
  const total = (await withDeadline((await jetstreamManager(nc)).streams.info(stream), { what: `${stream} info` })).state.messages;
  const consumer = await withDeadline(jetstream(nc).consumers.get(stream), { what: `ordered consumer on ${stream}` });
  const out: LakeRow[] = [];
  while (out.length < total) {
    const batch = await collect(consumer.fetch({ max_messages: Math.min(total - out.length, 1_000), expires: 2_000 }), { what: `fetch ${stream}`, timeoutMs: 10_000 });
    if (batch.length === 0) break;
    for (const m of batch) {
      const headers: Record<string, string> = {};
      if (m.headers) for (const k of m.headers.keys()) headers[k] = m.headers.get(k);
      out.push({ stream, seq: m.seq, subject: m.subject, timestampMs: Number(m.timestampNanos / 1_000_000n), headers, data: m.data });
    }
  }
  return out;
}
