import { createHash } from "node:crypto";
import type { Envelope } from "../subjects/envelope.ts";
import type { Source } from "../subjects/sources.ts";
import { compileWindowConfig } from "./config.ts";
import { SourceEngine, type SourceSnapshot } from "./source-engine.ts";
import type { EngineSnapshot, Output, SourceStatus, WindowConfig, WindowEngine } from "./types.ts";

export class WindowInputError extends Error {
  readonly eventId: string | undefined;
  readonly field: string;
  readonly expected: string;
  readonly got: unknown;

  constructor(field: string, expected: string, got: unknown, eventId?: string) {
    super(`window engine input ${field}${eventId ? ` of event ${eventId}` : ""}: expected ${expected}, got ${JSON.stringify(got)}`);
    this.name = "WindowInputError";
    this.eventId = eventId;
    this.field = field;
    this.expected = expected;
    this.got = got;
  }
}

export class WindowSnapshotError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WindowSnapshotError";
  }
}

/**
 * A deterministic event-time window engine: a reducer over (event, partition, processing time)
 * that never reads a clock of its own. See windowing/README.md for the semantics.
 *
 * @example
 * const engine = createWindowEngine(defaultWindowConfig);
 * for (const out of engine.onEvent(envelope, 3, Date.now())) {
 *   if (out.type === "window") rows.push(out.row);
 * }
 */
export function createWindowEngine(config: WindowConfig): WindowEngine {
  const compiled = compileWindowConfig(config);
  const fingerprint = configFingerprint(config);
  const options = {
    relativeAccuracy: config.sketchRelativeAccuracy,
    distinct: { exactLimit: config.distinctExactLimit, precision: config.hllPrecision },
    expectedPartitions: config.partitions ?? 0,
    groupShard: config.groupShard,
  };
  const engines = new Map<Source, SourceEngine>(compiled.map((c) => [c.source, new SourceEngine(c, options)]));
  let unconfigured = 0;

  return {
    onEvent(event: Envelope, partition: number, nowMs: number): Output[] {
      if (!Number.isSafeInteger(partition) || partition < 0) throw new WindowInputError("partition", "an integer >= 0", partition, event.event_id);
      clock(nowMs);
      if (typeof event.event_time !== "number" || !Number.isFinite(event.event_time)) {
        throw new WindowInputError("event_time", "epoch milliseconds", event.event_time, event.event_id);
      }
      if (typeof event.event_id !== "string" || event.event_id === "") throw new WindowInputError("event_id", "a non-empty string", event.event_id);
      const engine = engines.get(event.source);
      if (!engine) {
        unconfigured++;
        return [];
      }
      return engine.onEvent(event, partition, nowMs);
    },

    onTick(nowMs: number): Output[] {
      clock(nowMs);
      return [...engines.values()].flatMap((e) => e.onTick(nowMs));
    },

    watermark(source?: Source): number | null {
      const marks = [...engines.entries()]
        .filter(([s]) => source === undefined || s === source)
        .map(([, e]) => e.watermark)
        .filter(Number.isFinite);
      return marks.length > 0 ? Math.min(...marks) : null;
    },

    lagMs(source: Source, nowMs: number): number | null {
      const wm = engines.get(source)?.watermark;
      return wm !== undefined && Number.isFinite(wm) ? nowMs - wm : null;
    },

    status(nowMs: number): Partial<Record<Source, SourceStatus>> {
      return Object.fromEntries([...engines.entries()].map(([s, e]) => [s, e.status(nowMs)]));
    },

    unconfiguredEvents(): number {
      return unconfigured;
    },

    snapshot(): EngineSnapshot {
      return {
        format: 1,
        config: fingerprint,
        unconfigured,
        sources: Object.fromEntries([...engines.entries()].map(([s, e]) => [s, e.snapshot()])),
      };
    },

    restore(snapshot: EngineSnapshot): void {
      if (snapshot?.format !== 1) throw new WindowSnapshotError(`window snapshot format ${JSON.stringify(snapshot?.format)}, expected 1`);
      if (snapshot.config !== fingerprint) {
        throw new WindowSnapshotError(`window snapshot was taken with config ${snapshot.config}, this engine runs ${fingerprint}`);
      }
      for (const source of engines.keys()) {
        if (!(source in snapshot.sources)) throw new WindowSnapshotError(`window snapshot has no state for source ${source}`);
      }
      try {
        for (const [source, engine] of engines) engine.restore(snapshot.sources[source] as SourceSnapshot);
      } catch (cause) {
        throw new WindowSnapshotError("window snapshot could not be restored", { cause });
      }
      unconfigured = snapshot.unconfigured;
    },
  };
}

function clock(nowMs: number): void {
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs)) throw new WindowInputError("nowMs", "processing time in epoch milliseconds", nowMs);
}

/** Hash of the config with keys sorted, so equal configs written in another key order match. */
export function configFingerprint(config: WindowConfig): string {
  return createHash("sha256").update(canonical(config)).digest("hex").slice(0, 16);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

