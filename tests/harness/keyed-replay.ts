import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { Inbound, Outbound } from "../../actors/runtime/actor.ts";
import { eventsOf, spanContextOf } from "../../actors/runtime/delivery.ts";
import { fingerprintOfTask, type KeyedActorDefinition, type TaskSpec } from "../../actors/runtime/keyed/actor.ts";
import { subjectMatches } from "../../actors/runtime/keyed/batched-outputs.ts";
import { collect, withDeadline } from "../../nats/deadline.ts";

/** Every message `stream` holds now, in stream order, read with an ordered consumer. */
export async function readStream(nc: NatsConnection, stream: string): Promise<JsMsg[]> {
  const total = (await withDeadline((await jetstreamManager(nc)).streams.info(stream), { what: `${stream} info` })).state.messages;
  const consumer = await withDeadline(jetstream(nc).consumers.get(stream), { what: `ordered consumer on ${stream}` });
  const out: JsMsg[] = [];
  while (out.length < total) {
    const batch = await collect(consumer.fetch({ max_messages: Math.min(total - out.length, 1_000), expires: 2_000 }), { what: `fetch ${stream}`, timeoutMs: 10_000 });
    if (batch.length === 0) break;
    out.push(...batch);
  }
  return out;
}

/**
 * What one uninterrupted instance of the keyed actor `def` publishes for what its stream holds
 * now: its handler over each task's messages in stored order (a batch message's events one by
 * one, as the runtime hands them over), in one batch per task, with no runner, checkpoint or
 * broker between: Nats-Msg-Id → subject and body (a repeated id, as JetStream would, keeps
 * the first). No `start` is called: for definitions whose handler needs nothing it opens.
 */
export async function replayKeyed<S, T extends TaskSpec>(nc: NatsConnection, def: KeyedActorDefinition<S, T>): Promise<Map<string, { subject: string; body: string }>> {
  const messages = await readStream(nc, def.reads.stream);
  const out = new Map<string, { subject: string; body: string }>();
  const record = (o: Outbound) => {
    if (!out.has(o.msgId!)) out.set(o.msgId!, { subject: o.subject, body: typeof o.data === "string" ? o.data : new TextDecoder().decode(o.data) });
  };
  for (const task of def.reads.tasks) {
    const filters = typeof task.filter === "string" ? [task.filter] : task.filter;
    const inputs: Inbound[] = messages.filter((m) => filters.some((f) => subjectMatches(f, m.subject))).flatMap((m) => eventsOf(m.subject, m.seq, m.headers, m.data).map((e) => ({
      subject: m.subject, stream: def.reads.stream, seq: m.seq, ...(e.index !== undefined ? { index: e.index } : {}), deliveries: 1,
      timestampMs: Number(m.timestampNanos / 1_000_000n), headers: new Map(), data: e.data, traceId: spanContextOf(e.traceparent)?.traceId ?? "",
    })));
    await def.handle(def.createState(task), inputs, {
      emit: (_input, o) => record(o),
      emitUnbound: record,
      reject: () => undefined,
      scope: `${fingerprintOfTask(def, task)}.${task.id}`,
      log: console,
    });
  }
  return out;
}
