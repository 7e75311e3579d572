import type { NatsConnection } from "@nats-io/transport-node";
import { eventsOf, spanContextOf } from "../../actors/runtime/delivery.ts";
import type { JsMsg } from "@nats-io/jetstream";
import { readStream } from "../harness/keyed-replay.ts";
import { detectDefinition, type DetectActorOptions } from "../../actors/detect/index.ts";
import type { Inbound, Outbound } from "../../actors/runtime/actor.ts";

/** Every message on ALERTS: Nats-Msg-Id → the bodies stored under it (exactly-once: one each). */
export async function alertsOnStream(nc: NatsConnection): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const m of await readStream(nc, "ALERTS")) {
    const id = m.headers?.get("Nats-Msg-Id") ?? "";
    out.set(id, [...(out.get(id) ?? []), m.string()]);
  }
  return out;
}

/** The trace id a message carries in its W3C `traceparent` header ("" when untraced). */
function carriedTraceId(m: JsMsg): string {
  const parts = (m.headers?.get("traceparent") ?? "").split("-");
  return parts.length === 4 && /^[0-9a-f]{32}$/.test(parts[1]) ? parts[1] : "";
}

/**
 * What one uninterrupted detect instance publishes for what EVENTS holds now: the keyed
 * definition's own handler over each task's messages in stored order, in one batch per task,
 * with no runner, no checkpoint and no broker between. msgId → body.
 */
export async function expectedAlerts(nc: NatsConnection, opts: DetectActorOptions = {}): Promise<Map<string, string>> {
  const def = detectDefinition(opts);
  const events = await readStream(nc, "EVENTS");
  const out = new Map<string, string>();
  for (const task of def.reads.tasks) {
    const matches = (subject: string) => task.filter.some((f) => f.endsWith(">") ? subject.startsWith(f.slice(0, -1)) : subject === f);
    // A batch message's events one by one, as the runtime hands them over (actors/runtime/delivery.ts).
    const inputs: Inbound[] = events.filter((m) => matches(m.subject)).flatMap((m) => eventsOf(m.subject, m.seq, m.headers, m.data).map((e) => ({
      subject: m.subject, stream: "EVENTS", seq: m.seq, ...(e.index !== undefined ? { index: e.index } : {}), deliveries: 1, timestampMs: Number(m.timestampNanos / 1_000_000n), headers: new Map(), data: e.data,
      traceId: e.index === undefined ? carriedTraceId(m) : spanContextOf(e.traceparent)?.traceId ?? "",
    })));
    const state = def.createState(task);
    const record = (o: Outbound) => out.set(o.msgId!, typeof o.data === "string" ? o.data : new TextDecoder().decode(o.data));
    def.handle(state, inputs, {
      emit: (_input, o) => record(o),
      emitUnbound: record,
      reject: (input, err) => { throw new Error(`EVENTS seq ${input.seq} rejected: ${err.message}`); },
      scope: `${def.fingerprint}.${task.id}`,
      log: console,
    });
  }
  return out;
}

/** The first difference between what ALERTS holds and what it should, or undefined. */
export function alertsDiff(expected: Map<string, string>, got: Map<string, string[]>): string | undefined {
  for (const [id, bodies] of got) if (bodies.length !== 1) return `${id} is on ALERTS ${bodies.length} times`;
  for (const [id, body] of expected) {
    const stored = got.get(id)?.[0];
    if (stored === undefined) return `${id} is missing from ALERTS (${got.size} stored, ${expected.size} expected)`;
    if (stored !== body) return `${id} differs:\n  expected ${body}\n  stored   ${stored}`;
  }
  const extra = [...got.keys()].filter((id) => !expected.has(id));
  return extra.length ? `ALERTS holds ${extra.length} unexpected alerts, e.g. ${extra[0]}` : undefined;
}
