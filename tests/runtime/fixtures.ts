// Shared by the runtime tests: a durable of its own per test, and what a stream really stored.
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { withDeadline } from "../../nats/deadline.ts";
import { seconds } from "../../subjects/catalog.ts";
import type { ConsumerDefinition } from "../../subjects/consumers.ts";

/**
 * A fresh durable on RAW filtered to a subject of its own, so tests don't see each other's
 * messages. `prefix` keeps names unique across test files sharing one server.
 */
export function testConsumer(prefix: string, n: number, overrides: Partial<ConsumerDefinition> = {}): { def: ConsumerDefinition; subject: string; name: string; source: string } {
  const name = `${prefix}${n}`;
  const source = `test${prefix}${n}`;
  return {
    name,
    source,
    subject: `raw.${source}.k`,
    def: { stream: "RAW", durable_name: name, filter_subject: `raw.${source}.>`, ack_policy: "explicit", deliver_policy: "all", ack_wait: seconds(2), max_deliver: 3, max_ack_pending: 1000, ...overrides },
  };
}

export interface Stored {
  readonly seq: number;
  readonly subject: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly data: string;
}

/** Every message `stream` holds on `filter`, read back with an ordered consumer. */
export async function storedOn(nc: NatsConnection, stream: string, filter: string): Promise<Stored[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  const total = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: filter });
  return withDeadline(async () => {
    const out: Stored[] = [];
    const messages = await consumer.consume();
    for await (const m of messages) {
      const headers = new Map<string, string>();
      if (m.headers) for (const key of m.headers.keys()) headers.set(key, m.headers.get(key));
      out.push({ seq: m.seq, subject: m.subject, headers, data: m.string() });
      if (m.info.pending === 0) break;
    }
    return out;
  }, { what: `read ${stream} ${filter}`, timeoutMs: 10_000 });
}
