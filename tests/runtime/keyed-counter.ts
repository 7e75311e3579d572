import { defineKeyedActor, type KeyedActorDefinition, type TaskSpec } from "../../actors/runtime/keyed/actor.ts";
import { PoisonError } from "../../actors/runtime/errors.ts";

export interface CounterState {
  count: number;
  sum: number;
}

/** What the counter publishes per input on `agg.ktest.<task>`. */
export interface CounterOutput {
  task: string;
  seq: number;
  count: number;
  sum: number;
  label: string;
  at: number;
}

const decoder = new TextDecoder();

/**
 * A keyed test actor over `events.ktest.<p>`: per task a running count and sum of the numbers it
 * reads, one output per input. A body `poison` is rejected. `label` names the instance in every
 * output body; with `labelInId` it is in the msg id too, against the determinism contract on
 * purpose, so an output of a fenced instance cannot hide as a duplicate of the new owner's.
 */
export function counter(opts: { label: string; labelInId?: boolean; fingerprint?: string; partitions?: number; doneThrough?: number }): KeyedActorDefinition<CounterState, TaskSpec> {
  const tasks = Array.from({ length: opts.partitions ?? 2 }, (_, p) => ({ id: `p${p}`, filter: `events.ktest.${p}` }));
  return defineKeyedActor<CounterState>({
    name: "ktest",
    reads: { mode: "keyed", stream: "EVENTS", tasks },
    emits: ["AGG"],
    batch: { max_messages: 50, max_wait_ms: 10 },
    fingerprint: opts.fingerprint ?? "f1",
    createState: () => ({ count: 0, sum: 0 }),
    snapshot: (s) => ({ ...s }),
    restore: (_task, snap) => ({ ...(snap as CounterState) }),
    ...(opts.doneThrough === undefined ? {} : { outputsDoneThrough: async () => opts.doneThrough! }),
    handle(state, batch, ctx) {
      for (const m of batch) {
        const text = decoder.decode(m.data);
        if (text === "poison") {
          ctx.reject(m, new PoisonError("not_a_number", `${m.subject} (seq ${m.seq}): expected a number`));
          continue;
        }
        state.count++;
        state.sum += Number(text);
        const task = m.subject.split(".")[2];
        const out: CounterOutput = { task: `p${task}`, seq: m.seq, count: state.count, sum: state.sum, label: opts.label, at: m.timestampMs };
        ctx.emit(m, { subject: `agg.ktest.p${task}`, data: JSON.stringify(out), msgId: `${ctx.scope}:${opts.labelInId ? `${opts.label}:` : ""}${m.seq}` });
      }
    },
  });
}
