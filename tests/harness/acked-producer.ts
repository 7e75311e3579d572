import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { withDeadline } from "../../nats/deadline.ts";
import type { TestMessage } from "./events.ts";

/** A producer's message with the `Nats-Msg-Id` it retries under (its event id in sluice.events). */
export interface IdentifiedMessage extends TestMessage {
  readonly msgId: string;
}

export interface ProducerReport {
  /** Ids JetStream acknowledged (a PubAck, first time or as a duplicate of a stored one). */
  readonly acked: ReadonlySet<string>;
  /** Publishes that failed (no answer, no leader) and were sent again under the same id. */
  readonly retries: number;
  /** Retries JetStream answered as duplicates: the first try had been stored, its ack lost. */
  readonly duplicates: number;
}

/** Gives each message an id, `<prefix>-<n>`, in order. */
export function withIds(messages: readonly TestMessage[], prefix: string): IdentifiedMessage[] {
  return messages.map((m, i) => ({ ...m, msgId: `${prefix}-${i}` }));
}

/**
 * Publishes like a careful producer through a broker's faults: `batch` messages in flight, each
 * failed publish sent again under the same `Nats-Msg-Id` (RAW's duplicate window drops a repeat
 * of a stored one) until JetStream acknowledges it, batch after batch in order, so a key's events
 * are reordered at most within one batch. Throws if a batch is not acknowledged within `deadlineMs`.
 * `batchEveryMs`: a batch starts no sooner than this after the one before (a steady producer, so
 * that faults strike while it publishes).
 */
export async function publishUntilAcked(nc: NatsConnection, messages: readonly IdentifiedMessage[], opts: { batch?: number; deadlineMs?: number; progress?: (acked: number) => void; batchEveryMs?: number } = {}): Promise<ProducerReport> {
  const js = jetstream(nc, { timeout: 8_000 });
  const batch = opts.batch ?? 50;
  const acked = new Set<string>();
  let retries = 0;
  let duplicates = 0;
  for (let i = 0; i < messages.length; i += batch) {
    const startedAt = Date.now();
    const deadline = startedAt + (opts.deadlineMs ?? 120_000);
    let pending = messages.slice(i, i + batch);
    for (let attempt = 0; pending.length; attempt++) {
      if (attempt > 0) {
        retries += pending.length;
        if (Date.now() > deadline) throw new Error(`${pending.length} publishes (first ${pending[0].msgId}) not acknowledged within ${opts.deadlineMs ?? 120_000} ms of retries`);
        await sleep(250);
      }
      const results = await Promise.allSettled(pending.map((m) => withDeadline(() => js.publish(m.subject, m.body, { msgID: m.msgId }), { what: `publish ${m.msgId}`, timeoutMs: 10_000 })));
      const failed: IdentifiedMessage[] = [];
      results.forEach((r, k) => {
        if (r.status === "rejected") return void failed.push(pending[k]);
        acked.add(pending[k].msgId);
        if (attempt > 0 && r.value.duplicate) duplicates++;
      });
      pending = failed;
    }
    opts.progress?.(acked.size);
    const rest = (opts.batchEveryMs ?? 0) - (Date.now() - startedAt);
    if (rest > 0) await sleep(rest);
  }
  return { acked, retries, duplicates };
}
