import type { Envelope } from "../../subjects/envelope.ts";
import { SOURCES, type Source } from "../../subjects/sources.ts";
import { defaultWindowConfig, type WindowConfig } from "../../windowing/index.ts";
import { MinHeap } from "../../windowing/heap.ts";
import { WatermarkTracker, type WatermarkJson } from "../../windowing/watermark.ts";
import { createDetection, type Alert, type DetectionOptions, type DetectionSnapshot } from "./detection.ts";
import { DetectSnapshotError } from "./finding.ts";

/**
 * @example
 * // one EVENTS partition's iot and txn events, timing from the window config
 * const task = createDetectTask({ sources: ["iot", "txn"], partitions: 1 });
 * for (const msg of messages) alerts.push(...task.observe(envelopeOf(msg), { partition: 0, streamMs: msg.timestampMs, traceId }));
 */
export interface DetectTaskOptions {
  /** Sources this task scores; events of the others are counted in `status().ignored` and dropped. */
  readonly sources: readonly Source[];
  /** Partitions 0..n−1 the caller passes to `observe` (1 for a task over one EVENTS partition). */
  readonly partitions: number;
  /**
   * Where each source's out-of-orderness bound, allowed lateness and idle timeout come from: the
   * same numbers as the windows of that source. Default {@link defaultWindowConfig}.
   */
  readonly windows?: WindowConfig;
  /** Thresholds, key caps, detector options; the clock is the task's (stream time), never the wall. */
  readonly detection?: Omit<DetectionOptions, "now">;
}

/** Where and when a message was stored: the task's only inputs besides the envelope. */
export interface DetectInput {
  /** The task's partition of the message, 0..partitions−1. */
  readonly partition: number;
  /** The stream's timestamp of the message, epoch ms: the task's processing clock. */
  readonly streamMs: number;
  /** The message's stream sequence, kept with a held event so the caller knows what it may ack. */
  readonly seq: number;
  /** Trace id of the event, carried into its alerts. */
  readonly traceId: string;
}

export interface LaneStatus {
  watermark: number | null;
  buffered: number;
  /** Event ids remembered to drop redeliveries. */
  dedupeIds: number;
  events: number;
  duplicates: number;
  /** Behind the watermark, within the allowed lateness: scored and learnt at once, out of order. */
  late: number;
  /** Past the allowed lateness: judged against the state, nothing learnt. */
  tooLate: number;
  /** Buffers released because the source went quiet for its idle timeout of stream time. */
  idleFlushes: number;
}

export interface DetectTaskStatus {
  sources: Partial<Record<Source, LaneStatus>>;
  ignored: number;
}

/**
 * A deterministic per-partition detect stage: the scorers behind a reorder buffer per source.
 * Alerts are a pure function of the sequence of (envelope, partition, stream time) it is given —
 * no wall clock, no randomness — so a replay from a snapshot gives the same alerts again, bodies
 * included.
 */
export interface DetectTask {
  /** One stored message; returns the alerts it made final (of this event or of held ones). */
  observe(envelope: Envelope, input: DetectInput): Alert[];
  /** Processing time passing without a message: sources quiet for their idle timeout are released. */
  tick(streamMs: number): Alert[];
  status(): DetectTaskStatus;
  /** The lowest stream sequence of an event waiting in a buffer; every message before it is scored. */
  oldestHeldSeq(): number | undefined;
  /** Plain JSON: detectors, buffers, watermarks, dedupe ids. */
  snapshot(): DetectTaskSnapshot;
  /** Into a task made with the same options; a snapshot of other sources is refused. */
  restore(snapshot: DetectTaskSnapshot): void;
}

interface Held {
  t: number;
  id: string;
  seq: number;
  envelope: Envelope;
  traceId: string;
}

interface LaneSnapshot {
  tracker: WatermarkJson;
  buffer: Held[];
  seen: Array<[number, string]>;
  flushedTo: number | null;
  lastSeenMs: number | null;
  counts: Omit<LaneStatus, "watermark" | "buffered" | "dedupeIds">;
}

export interface DetectTaskSnapshot {
  format: 1;
  sources: Source[];
  lanes: Partial<Record<Source, LaneSnapshot>>;
  detection: DetectionSnapshot;
  ignored: number;
  /** The processing clock: the newest stream timestamp seen. */
  clock: number | null;
}

/** An input the task cannot take; names the field, what it expects and what it got. */
export class DetectInputError extends Error {
  override name = "DetectInputError";
  readonly field: string;
  readonly expected: string;
  readonly got: unknown;

  constructor(field: string, expected: string, got: unknown, eventId?: string) {
    super(`detect task input ${field}${eventId ? ` of event ${eventId}` : ""}: expected ${expected}, got ${JSON.stringify(got)}`);
    this.field = field;
    this.expected = expected;
    this.got = got;
  }
}

const heldBefore = (a: Held, b: Held) => a.t < b.t || (a.t === b.t && a.id < b.id);
const pairBefore = (a: [number, string], b: [number, string]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

/**
 * One source's ordering, with the window engine's semantics (windowing/README.md, "Event time
 * and watermarks"): the watermark W is the newest event time minus the source's out-of-orderness
 * bound (per partition, combined like the windows'); an event at or after W waits in the buffer
 * and reaches the scorers in (event_time, event_id) order once W passes it, so reordering within
 * the bound changes nothing. Behind W it is late: within the allowed lateness it is scored and
 * learnt at once (the scorers keep their per-key order-dependent state sorted, e.g. velocity's
 * payment times), past it it is judged and teaches nothing. Event ids are remembered until W is
 * the allowed lateness past them, so a redelivery in that time is dropped. A source with no event
 * for its idle timeout of stream time releases its whole buffer (W alone would hold the last
 * bound's worth of events until its next event).
 */
class Lane {
  readonly timing: { outOfOrdernessMs: number; allowedLatenessMs: number; idleTimeoutMs: number };
  private readonly partitions: number;
  tracker: WatermarkTracker;
  buffer = new MinHeap<Held>(heldBefore);
  seen = new Set<string>();
  seenExpiry = new MinHeap<[number, string]>(pairBefore);
  /** Newest event time an idle flush released; events up to it are late from then on. */
  flushedTo = -Infinity;
  lastSeenMs = -Infinity;
  counts = { events: 0, duplicates: 0, late: 0, tooLate: 0, idleFlushes: 0 };

  constructor(timing: Lane["timing"], partitions: number) {
    this.timing = timing;
    this.partitions = partitions;
    this.tracker = this.newTracker();
  }

  newTracker(): WatermarkTracker {
    return new WatermarkTracker({ outOfOrdernessMs: this.timing.outOfOrdernessMs, idleTimeoutMs: this.timing.idleTimeoutMs, expectedPartitions: this.partitions });
  }

  /** The event time before which an event is late. */
  get horizon(): number {
    return Math.max(this.tracker.watermark, this.flushedTo + 1);
  }

  remember(held: Held): void {
    this.seen.add(held.id);
    this.seenExpiry.push([held.t, held.id]);
  }

  /** Held events W has passed, in order; forgets ids beyond the lateness. */
  due(nowMs: number): Held[] {
    const out: Held[] = [];
    if (this.tracker.advance(nowMs)) {
      const wm = this.tracker.watermark;
      for (let h = this.buffer.peek(); h && h.t < wm; h = this.buffer.peek()) out.push(this.buffer.pop()!);
    }
    if (this.buffer.size > 0 && nowMs - this.lastSeenMs > this.timing.idleTimeoutMs) {
      this.counts.idleFlushes++;
      for (let h = this.buffer.pop(); h; h = this.buffer.pop()) out.push(h);
      this.flushedTo = Math.max(this.flushedTo, out[out.length - 1].t);
    }
    const forgetBefore = this.horizon - this.timing.allowedLatenessMs;
    for (let e = this.seenExpiry.peek(); e && e[0] < forgetBefore; e = this.seenExpiry.peek()) {
      this.seenExpiry.pop();
      this.seen.delete(e[1]);
    }
    return out;
  }

  status(): LaneStatus {
    const wm = this.tracker.watermark;
    return { watermark: Number.isFinite(wm) ? wm : null, buffered: this.buffer.size, dedupeIds: this.seen.size, ...this.counts };
  }

  snapshot(): LaneSnapshot {
    return {
      tracker: this.tracker.toJson(),
      buffer: this.buffer.items.map((h) => structuredClone(h)),
      seen: this.seenExpiry.items.map(([t, id]) => [t, id]),
      flushedTo: Number.isFinite(this.flushedTo) ? this.flushedTo : null,
      lastSeenMs: Number.isFinite(this.lastSeenMs) ? this.lastSeenMs : null,
      counts: { ...this.counts },
    };
  }

  restore(s: LaneSnapshot): void {
    this.tracker = this.newTracker();
    this.tracker.loadJson(s.tracker);
    this.buffer = new MinHeap(heldBefore, s.buffer.map((h) => structuredClone(h)));
    this.seenExpiry = new MinHeap(pairBefore, s.seen.map(([t, id]) => [t, id]));
    this.seen = new Set(s.seen.map(([, id]) => id));
    this.flushedTo = s.flushedTo ?? -Infinity;
    this.lastSeenMs = s.lastSeenMs ?? -Infinity;
    this.counts = { ...s.counts };
  }
}

/**
 * Creates a {@link DetectTask}. Which sources a task may own: iot and txn are keyed by the
 * envelope key, which validate partitions by, so a task per EVENTS partition sees each sensor's
 * and customer's whole history; social volume is per topic, which spans partitions, so it wants
 * one task over every partition (`partitions` = their number).
 */
export function createDetectTask(opts: DetectTaskOptions): DetectTask {
  if (!Number.isSafeInteger(opts.partitions) || opts.partitions < 1) throw new DetectInputError("partitions", "an integer >= 1", opts.partitions);
  const windows = opts.windows ?? defaultWindowConfig;
  const sources = SOURCES.filter((s) => opts.sources.includes(s));
  const lanes = new Map<Source, Lane>();
  for (const s of sources) {
    const timing = windows.sources[s];
    if (!timing) throw new DetectInputError(`windows.sources.${s}`, "the source's window timing (outOfOrdernessMs, allowedLatenessMs, idleTimeoutMs)", timing);
    lanes.set(s, new Lane(timing, opts.partitions));
  }
  let clock = -Infinity;
  const detection = createDetection({ ...opts.detection, now: () => clock });
  let ignored = 0;

  const score = (h: Held, learn: boolean): Alert[] => detection.observe(h.envelope, h.traceId, learn);

  /** Releases what is due in every lane, sources in a fixed order. */
  function release(nowMs: number, out: Alert[]): Alert[] {
    for (const lane of lanes.values()) for (const h of lane.due(nowMs)) out.push(...score(h, true));
    return out;
  }

  function setClock(streamMs: number): void {
    if (typeof streamMs !== "number" || !Number.isFinite(streamMs)) throw new DetectInputError("streamMs", "the stream timestamp in epoch ms", streamMs);
    // Stream timestamps of one task only go forward; a clock that went back would undo idleness.
    clock = Math.max(clock, streamMs);
  }

  return {
    observe(envelope, input) {
      if (!Number.isSafeInteger(input.partition) || input.partition < 0 || input.partition >= opts.partitions) {
        throw new DetectInputError("partition", `an integer from 0 to ${opts.partitions - 1}`, input.partition, envelope.event_id);
      }
      if (typeof envelope.event_time !== "number" || !Number.isFinite(envelope.event_time)) throw new DetectInputError("event_time", "epoch ms", envelope.event_time, envelope.event_id);
      if (typeof envelope.event_id !== "string" || envelope.event_id === "") throw new DetectInputError("event_id", "a non-empty string", envelope.event_id);
      setClock(input.streamMs);
      const out: Alert[] = [];
      const lane = lanes.get(envelope.source);
      if (!lane) {
        ignored++;
        return release(clock, out);
      }
      lane.counts.events++;
      lane.lastSeenMs = clock;
      lane.tracker.observe(input.partition, envelope.event_time, clock);
      const held: Held = { t: envelope.event_time, id: envelope.event_id, seq: input.seq, envelope, traceId: input.traceId };
      if (lane.seen.has(held.id)) {
        lane.counts.duplicates++;
      } else if (held.t >= lane.horizon) {
        lane.buffer.push(held);
        lane.remember(held);
      } else if (held.t >= lane.horizon - lane.timing.allowedLatenessMs) {
        lane.counts.late++;
        lane.remember(held);
        out.push(...score(held, true));
      } else {
        lane.counts.tooLate++;
        out.push(...score(held, false));
      }
      return release(clock, out);
    },

    tick(streamMs) {
      setClock(streamMs);
      return release(clock, []);
    },

    oldestHeldSeq() {
      let oldest: number | undefined;
      for (const lane of lanes.values()) for (const h of lane.buffer.items) if (oldest === undefined || h.seq < oldest) oldest = h.seq;
      return oldest;
    },

    status: () => ({ sources: Object.fromEntries([...lanes].map(([s, lane]) => [s, lane.status()])), ignored }),

    snapshot: () => ({
      format: 1,
      sources: [...lanes.keys()],
      lanes: Object.fromEntries([...lanes].map(([s, lane]) => [s, lane.snapshot()])),
      detection: detection.snapshot(),
      ignored,
      clock: Number.isFinite(clock) ? clock : null,
    }),

    restore(snapshot) {
      if (snapshot?.format !== 1) throw new DetectSnapshotError(`detect task snapshot format ${JSON.stringify(snapshot?.format)}, expected 1`);
      const mine = [...lanes.keys()].join(",");
      if ([...(snapshot.sources ?? [])].sort().join(",") !== [...lanes.keys()].sort().join(",")) {
        throw new DetectSnapshotError(`detect task snapshot holds sources ${JSON.stringify(snapshot.sources)}, this task scores ${mine}`);
      }
      detection.restore(snapshot.detection);
      for (const [s, lane] of lanes) {
        const ls = snapshot.lanes[s];
        if (!ls) throw new DetectSnapshotError(`detect task snapshot has no buffer for source ${s}`);
        lane.restore(ls);
      }
      ignored = snapshot.ignored;
      clock = snapshot.clock ?? -Infinity;
    },
  };
}
