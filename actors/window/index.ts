import { createWindowEngine, defaultWindowConfig, type Output, type WindowConfig, type WindowEngine } from "../../windowing/index.ts";
import { CONSUMERS } from "../../subjects/consumers.ts";
import { subject } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { SOURCES } from "../../subjects/sources.ts";
import { defineActor, type ActorContext, type ActorDefinition, type Inbound } from "../runtime/actor.ts";
import { PoisonError } from "../runtime/errors.ts";

export interface WindowActorOptions {
  /** How often the watermark is re-checked without new events (idle partitions). */
  readonly tickMs?: number;
  /** Processing time after which a silent partition stops holding the watermark back. */
  readonly idleMs?: number;
  readonly partitions?: number;
  readonly config?: WindowConfig;
}

/**
 * The foundation's windows: 1-minute tumbling windows in event time per (source, key) and metric.
 * Inputs stay unacked until the watermark has passed their window's end plus the allowed
 * lateness, so a crash loses no window state: the unacked events come back and rebuild it.
 */
export function tumblingConfig(base: WindowConfig, idleMs: number | undefined, partitions: number | undefined): WindowConfig {
  const sources: Record<string, unknown> = {};
  for (const source of SOURCES) {
    const sc = base.sources[source];
    if (!sc) continue;
    sources[source] = {
      ...sc,
      idleTimeoutMs: idleMs ?? sc.idleTimeoutMs,
      groups: sc.groups.filter((g) => !g.field),
      windows: sc.windows.filter((w) => w.kind === "tumbling"),
    };
  }
  return { ...base, partitions, sources: sources as WindowConfig["sources"] };
}

function holdSpanMs(config: WindowConfig): number {
  let span = 0;
  for (const sc of Object.values(config.sources)) {
    if (!sc) continue;
    for (const w of sc.windows) {
      const size = w.kind === "session" ? w.maxLengthMs : w.sizeMs;
      span = Math.max(span, size + sc.allowedLatenessMs + sc.outOfOrdernessMs);
    }
  }
  return span;
}

function publish(outputs: Output[], ctx: ActorContext, input: Inbound | undefined, log: ActorContext["log"]): void {
  const emittedAt = Date.now();
  for (const out of outputs) {
    if (out.type === "window") {
      const row = { ...out.row, emitted_at: emittedAt, version: emittedAt * 1000 + (out.row.version % 1000) };
      ctx.emitUnbound({
        subject: subject.agg(out.row.source, out.row.kind),
        data: JSON.stringify(row),
        msgId: `${out.row.window_id}:v${out.row.version}:n${out.row.count}`,
      });
    } else if (out.type === "late") {
      const late = { subject: subject.late(out.source), data: JSON.stringify(out), msgId: `late:${out.event_id}` };
      if (input) ctx.emit(input, late);
      else ctx.emitUnbound(late);
    } else {
      log.warn(`window: session ${out.row.window_id} merged into ${out.merged_into}; retraction not yet stored`);
    }
  }
}

export function windowActor(opts: WindowActorOptions = {}): ActorDefinition {
  const config = opts.config ?? tumblingConfig(defaultWindowConfig, opts.idleMs, opts.partitions);
  const span = holdSpanMs(config);
  let engine: WindowEngine = createWindowEngine(config);

  const release = (ctx: ActorContext) => {
    const watermark = engine.watermark();
    if (watermark !== null) ctx.release(watermark);
  };

  return defineActor({
    name: "window",
    consumes: CONSUMERS.window,
    emits: ["AGG", "LATE"],
    batch: { max_messages: 1_000, max_wait_ms: 20 },
    start() {
      // After a restart every unacked input is redelivered, so state starts empty.
      engine = createWindowEngine(config);
    },
    handle(batch, ctx) {
      const now = Date.now();
      for (const input of batch) {
        let envelope: Envelope;
        try {
          envelope = JSON.parse(new TextDecoder().decode(input.data)) as Envelope;
        } catch (err) {
          ctx.reject(input, new PoisonError("json", `${input.subject} (seq ${input.seq}): not an event envelope`, { cause: err }));
          continue;
        }
        const partition = Number(input.subject.split(".")[2] ?? 0);
        const outputs = engine.onEvent(envelope, Number.isInteger(partition) ? partition : 0, now);
        publish(outputs, ctx, input, ctx.log);
        if (!outputs.some((o) => o.type === "late")) ctx.hold(input, envelope.event_time + span);
      }
      release(ctx);
    },
    tick: {
      every_ms: opts.tickMs ?? 1_000,
      handle(now, ctx) {
        publish(engine.onTick(now), ctx, undefined, ctx.log);
        release(ctx);
      },
    },
  });
}
