import type { Envelope } from "../subjects/envelope.ts";
import type { CompiledSource, CompiledSpec } from "./config.ts";
import { addDistinct, countDistinct, distinctFromJson, distinctToJson, mergeDistinct, newDistinct, type DistinctJson, type DistinctOptions, type DistinctState } from "./distinct.ts";
import { MinHeap, TimeHeap } from "./heap.ts";
import { mergeSketch, newSketch, type QuantileSketch } from "./sketch.ts";
import { addMoments, addValue, mergeStats, newStats, statsFromJson, statsToJson, summarize, type MetricStats, type MetricStatsJson } from "./stats.ts";
import type { GroupShard, LateOutput, LateWindowRef, Output, RetractOutput, SourceStatus, WindowKind, WindowResult } from "./types.ts";
import { WatermarkTracker, type WatermarkJson } from "./watermark.ts";
import { groupShardOf, windowId } from "./window-id.ts";

/** What the engine keeps of an event: its time, id and the values its config looks at. */
interface Fact {
  t: number;
  id: string;
  /** Group value per source group (null: the event lacks it). */
  groups: (string | null)[];
  /** Metric value per source metric (null: absent or not a finite number). */
  values: (number | null)[];
  /** Value of each group's distinct field. */
  distinct: (string | null)[];
}

interface Win {
  key: string;
  spec: number;
  group: number;
  value: string;
  start: number;
  end: number;
  maxEventTime: number;
  stats: (MetricStats | null)[];
  distinct: DistinctState | null;
  version: number;
  // The bounds that name the window's rows. Fixed at the first emission, so a session that later
  // grows keeps its row ids and only its window_start/window_end move.
  idStart: number | null;
  idEnd: number | null;
  dirty: boolean;
  // The one timer that is live for this window; heap entries at other times are stale.
  timerAt: number | null;
}

/**
 * One slide of a hopping spec for one group value: the quantile sketches and distinct values of
 * the events in [start, start + slide), shared by every window that covers it (Flink's and
 * Arroyo's sliced windows). An event updates its one pane instead of size / slide windows; a
 * window merges its panes when it emits. Sketch and distinct merges are exact and order-free, so
 * the result is what per-window updates gave; count, sum, mean and M2 stay per window, updated in
 * fold order, because a floating-point sum of partial sums differs in the last bits.
 */
interface Pane {
  start: number;
  sketches: (QuantileSketch | null)[];
  distinct: DistinctState | null;
}

interface WinJson extends Omit<Win, "stats" | "distinct"> {
  stats: (MetricStatsJson | null)[];
  distinct: DistinctJson | null;
}

export interface SourceSnapshot {
  tracker: WatermarkJson;
  buffer: Fact[];
  timers: [number, string][];
  windows: WinJson[];
  sessions: [string, string[]][];
  seen: [number, string][];
  nextSession: number;
  events: number;
  duplicates: number;
  late: number;
}

export interface EngineOptions {
  relativeAccuracy: number;
  distinct: DistinctOptions;
  expectedPartitions: number;
  groupShard?: GroupShard;
}

const factBefore = (a: Fact, b: Fact) => a.t < b.t || (a.t === b.t && a.id < b.id);

/**
 * The windows of one source. Events at or after the watermark wait in a buffer and are folded into
 * their windows in (event_time, event_id) order once the watermark passes them, so floating-point
 * results (Welford's mean and M2, sums) do not depend on arrival order. Events behind the watermark
 * are late: folded at once into windows still within allowed lateness, reported for the rest.
 */
export class SourceEngine {
  private readonly c: CompiledSource;
  private readonly opts: EngineOptions;
  private readonly lateness: number;
  private tracker: WatermarkTracker;
  private buffer = new MinHeap<Fact>(factBefore);
  /** Window wake-ups; an entry whose time is not its window's `timerAt` any more is stale. */
  private timers = new TimeHeap<Win>();
  private windows = new Map<string, Win>();
  /**
   * The open windows of each (spec, group, value), sorted by start: a fold finds an event's
   * windows here without building a key string per event. For sessions this is the session index.
   */
  private slots: Map<string, Win[]>[][];
  /**
   * Hopping specs' panes per (spec, group, value), by start. A hopping window's own sketches and
   * distinct state hold only what a restored snapshot carried in; the panes hold what came since.
   */
  private panes: Map<string, Pane[]>[][];
  private seen = new Set<string>();
  private expiring = new TimeHeap<string>();
  private nextSession = 0;
  private events = 0;
  private duplicates = 0;
  private late = 0;
  private due = new Set<Win>();
  private retracts: RetractOutput[] = [];
  /** Per spec, the latest end of a window holding an event at t is t rounded like this plus `reach`. */
  private readonly expiryRules: readonly { step: number; reach: number }[];
  /** Per spec, a hopping spec's pane width: gcd(size, slide). */
  private readonly paneWidth: readonly number[];

  constructor(compiled: CompiledSource, opts: EngineOptions) {
    this.c = compiled;
    this.opts = opts;
    this.lateness = compiled.config.allowedLatenessMs;
    this.tracker = this.newTracker();
    this.slots = this.emptySlots();
    this.panes = this.emptySlots();
    this.paneWidth = compiled.specs.map(({ spec }) => (spec.kind === "hopping" ? gcd(spec.sizeMs, spec.slideMs) : 0));
    this.expiryRules = compiled.specs.map(({ spec }) =>
      spec.kind === "tumbling" ? { step: spec.sizeMs, reach: spec.sizeMs }
        : spec.kind === "hopping" ? { step: spec.slideMs, reach: spec.sizeMs }
          : { step: 0, reach: spec.maxLengthMs });
  }

  get watermark(): number {
    return this.tracker.watermark;
  }

  onEvent(event: Envelope, partition: number, nowMs: number): Output[] {
    this.events++;
    this.tracker.observe(partition, event.event_time, nowMs);
    let late: LateOutput | null = null;
    if (this.seen.has(event.event_id)) {
      this.duplicates++;
    } else {
      const fact = this.extract(event);
      // No window of this shard can hold it (it only moved the watermark above).
      if (fact === null) return this.advance(nowMs, []);
      if (fact.t >= this.tracker.watermark) {
        this.buffer.push(fact);
        this.remember(fact);
      } else {
        const refs: LateWindowRef[] = [];
        if (this.fold(fact, true, refs)) this.remember(fact);
        if (refs.length > 0) {
          this.late++;
          late = {
            type: "late",
            reason: "beyond_allowed_lateness",
            source: this.c.source,
            event_id: event.event_id,
            event_time: event.event_time,
            partition,
            watermark: this.tracker.watermark,
            allowed_lateness_ms: this.lateness,
            windows: refs,
            event,
          };
        }
      }
    }
    const out: Output[] = late ? [late] : [];
    return this.advance(nowMs, out);
  }

  onTick(nowMs: number): Output[] {
    return this.advance(nowMs, []);
  }

  status(nowMs: number): SourceStatus {
    const wm = this.tracker.watermark;
    return {
      watermark: Number.isFinite(wm) ? wm : null,
      lag_ms: Number.isFinite(wm) ? nowMs - wm : null,
      partitions: this.tracker.status(nowMs),
      buffered: this.buffer.size,
      open_windows: this.windows.size,
      dedupe_ids: this.seen.size,
      events: this.events,
      duplicates: this.duplicates,
      late_events: this.late,
    };
  }

  snapshot(): SourceSnapshot {
    return {
      tracker: this.tracker.toJson(),
      buffer: this.buffer.items.map((f) => ({ ...f })),
      // The live timers only (one per window that has one), so a restored engine snapshots the same.
      timers: [...this.windows.values()].flatMap((w): [number, string][] => (w.timerAt === null ? [] : [[w.timerAt, w.key]])),
      // A hopping window's sketches and distinct state are written whole (its own and its panes'),
      // so a snapshot reads like one of an engine without panes.
      windows: [...this.windows.values()].map((w) => ({
        ...w,
        stats: w.stats.map((s, m) => (s ? statsToJson(s, this.sketchOf(w, m)) : null)),
        distinct: this.distinctOf(w) ? distinctToJson(this.distinctOf(w)!) : null,
      })),
      sessions: this.sessionIndex(),
      seen: this.expiring.entries(),
      nextSession: this.nextSession,
      events: this.events,
      duplicates: this.duplicates,
      late: this.late,
    };
  }

  restore(s: SourceSnapshot): void {
    this.tracker = this.newTracker();
    this.tracker.loadJson(s.tracker);
    this.buffer = new MinHeap(factBefore, s.buffer.map((f) => ({ ...f })));
    this.windows = new Map(s.windows.map((w) => [w.key, {
      ...w,
      stats: w.stats.map((j) => (j ? statsFromJson(j, this.opts.relativeAccuracy) : null)),
      distinct: w.distinct ? distinctFromJson(w.distinct) : null,
    }]));
    // Entries of snapshots that kept stale timers (windows gone or woken at another time) are dropped.
    this.timers = new TimeHeap<Win>();
    for (const [at, key] of s.timers) {
      const w = this.windows.get(key);
      if (w && w.timerAt === at) this.timers.push(at, w);
    }
    this.slots = this.emptySlots();
    this.panes = this.emptySlots();
    // Sessions keep the index's order; the other windows are sorted by start.
    for (const [, list] of s.sessions) {
      const wins = list.map((key) => this.win(key));
      if (wins.length > 0) this.slots[wins[0].spec][wins[0].group].set(wins[0].value, wins);
    }
    for (const w of this.windows.values()) {
      if (this.c.specs[w.spec].spec.kind !== "session") insertByStart(this.slotOf(w.spec, w.group, w.value), w);
    }
    this.expiring = new TimeHeap<string>();
    this.seen = new Set();
    for (const [t, id] of s.seen) this.expire(id, t);
    this.nextSession = s.nextSession;
    this.events = s.events;
    this.duplicates = s.duplicates;
    this.late = s.late;
  }

  private newTracker(): WatermarkTracker {
    return new WatermarkTracker({
      outOfOrdernessMs: this.c.config.outOfOrdernessMs,
      idleTimeoutMs: this.c.config.idleTimeoutMs,
      expectedPartitions: this.opts.expectedPartitions,
    });
  }

  /** null when the engine folds a shard of group keys and none of the event's is in it. */
  private extract(event: Envelope): Fact | null {
    const p = event.payload;
    const { groups: specs, metrics } = this.c;
    const shard = this.opts.groupShard;
    const groups: (string | null)[] = new Array(specs.length);
    const distinct: (string | null)[] = new Array(specs.length);
    let any = false;
    for (let g = 0; g < specs.length; g++) {
      const spec = specs[g];
      let v = label(spec.field === undefined ? event.key : p[spec.field]);
      if (v !== null && shard && groupShardOf(this.keyLabel(g, v), shard.count) !== shard.index) v = null;
      groups[g] = v;
      if (v !== null) any = true;
      distinct[g] = spec.distinct === undefined ? null : label(p[spec.distinct]);
    }
    if (shard && !any) return null;
    const values: (number | null)[] = new Array(metrics.length);
    for (let m = 0; m < metrics.length; m++) {
      const field = metrics[m].field;
      values[m] = field === undefined ? 1 : finiteNumber(p[field]);
    }
    return { t: event.event_time, id: event.event_id, groups, values, distinct };
  }

  // Dedupe ids live as long as the longest-lived window the event can be in; a redelivery after
  // that finds every window closed and comes back as late instead of being counted twice.
  private remember(fact: Fact): void {
    let expiry = -Infinity;
    const t = fact.t;
    for (const { step, reach } of this.expiryRules) {
      const end = (step === 0 ? t : Math.floor(t / step) * step) + reach;
      expiry = Math.max(expiry, end + this.lateness);
    }
    this.expire(fact.id, expiry);
  }

  private expire(id: string, at: number): void {
    this.seen.add(id);
    this.expiring.push(at, id);
  }

  /** Folds a fact into all its windows; true when it landed in at least one. */
  private fold(fact: Fact, late: boolean, refs: LateWindowRef[]): boolean {
    let landed = false;
    const specs = this.c.specs;
    const t = fact.t;
    for (let specIndex = 0; specIndex < specs.length; specIndex++) {
      const cs = specs[specIndex];
      if (!this.hasAny(cs, fact)) continue;
      const spec = cs.spec;
      for (const g of cs.groups) {
        const value = fact.groups[g];
        if (value === null) continue;
        if (spec.kind === "session") {
          landed = this.foldSession(specIndex, cs, g, value, fact, late, refs) || landed;
          continue;
        }
        // The windows of size `sizeMs` every `slide` that contain t, earliest first.
        const slide = spec.kind === "tumbling" ? spec.sizeMs : spec.slideMs;
        const last = Math.floor(t / slide) * slide;
        let first = last;
        while (first - slide > t - spec.sizeMs) first -= slide;
        const list = this.slotOf(specIndex, g, value);
        const hopping = spec.kind === "hopping";
        let folded = false;
        for (let start = first; start <= last; start += slide) {
          const end = start + spec.sizeMs;
          if (late && end + this.lateness <= this.tracker.watermark) {
            this.refer(refs, this.present(cs, fact), g, value, spec.kind, start, end);
            continue;
          }
          const w = findByStart(list, start) ?? this.open(JSON.stringify([specIndex, g, value, start]), specIndex, g, value, start, end, list);
          if (hopping) this.addMoments(w, cs, fact);
          else this.add(w, cs, g, fact);
          this.touch(w);
          folded = true;
        }
        // Panes are gcd(size, slide) wide, so windows are unions of whole panes. The event's pane is
        // covered by every window above, the latest-ending one (starting at `last`) included, and
        // lives until that one is purged.
        if (hopping && folded) {
          const width = this.paneWidth[specIndex];
          this.addToPane(this.paneOf(specIndex, g, value, Math.floor(t / width) * width), cs, g, fact);
        }
        landed = folded || landed;
      }
    }
    return landed;
  }

  private hasAny(cs: CompiledSpec, fact: Fact): boolean {
    for (const m of cs.metrics) if (fact.values[m] !== null) return true;
    return false;
  }

  /** The metrics of `cs` the fact has a value for. */
  private present(cs: CompiledSpec, fact: Fact): number[] {
    return cs.metrics.filter((m) => fact.values[m] !== null);
  }

  private foldSession(
    specIndex: number,
    cs: CompiledSpec,
    g: number,
    value: string,
    fact: Fact,
    late: boolean,
    refs: LateWindowRef[],
  ): boolean {
    if (cs.spec.kind !== "session") return false;
    const { gapMs, maxLengthMs } = cs.spec;
    const t = fact.t;
    const slot = this.slots[specIndex][g];
    const list = slot.get(value) ?? [];
    let i = list.length - 1;
    while (i >= 0 && list[i].start > t) i--;
    const prev = i >= 0 ? list[i] : null;
    const next = i + 1 < list.length ? list[i + 1] : null;
    const a = prev && t < prev.end ? prev : null;
    const b = next && next.start < t + gapMs ? next : null;
    let target: Win;
    if (a && b && b.end - a.start <= maxLengthMs) {
      this.absorb(a, b, cs, list, i + 1);
      target = a;
    } else if (a) {
      target = a;
    } else if (b && b.end - t <= maxLengthMs) {
      b.start = t;
      target = b;
    } else {
      if (late && t + gapMs + this.lateness <= this.tracker.watermark) {
        this.refer(refs, this.present(cs, fact), g, value, "session", t, t + gapMs);
        return false;
      }
      const key = JSON.stringify([specIndex, g, value, `s${this.nextSession++}`]);
      target = this.open(key, specIndex, g, value, t, t + gapMs);
      list.splice(i + 1, 0, target);
      slot.set(value, list);
    }
    target.maxEventTime = Math.max(target.maxEventTime, t);
    target.end = Math.min(target.maxEventTime + gapMs, target.start + maxLengthMs);
    this.add(target, cs, g, fact);
    this.touch(target);
    return true;
  }

  // A late event bridged two sessions: `from` goes into `into`. When both were already emitted the
  // later one is retracted; when only `from` was, `into` takes over its row ids and version.
  private absorb(into: Win, from: Win, cs: CompiledSpec, list: Win[], at: number): void {
    if (from.idStart !== null) {
      if (into.idStart === null) {
        into.idStart = from.idStart;
        into.idEnd = from.idEnd;
        into.version = from.version;
      } else {
        for (const row of this.rows(from, cs, from.version + 1)) {
          const survivor = windowId(this.c.source, "session", row.key, row.metric, into.idStart, into.idEnd ?? into.end);
          this.retracts.push({ type: "retract", row, merged_into: survivor });
        }
      }
    }
    from.stats.forEach((s, m) => {
      if (!s) return;
      const mine = into.stats[m];
      if (mine) mergeStats(mine, s);
      else into.stats[m] = s;
    });
    if (from.distinct) into.distinct = into.distinct ? mergeDistinct(into.distinct, from.distinct, this.opts.distinct) : from.distinct;
    into.maxEventTime = Math.max(into.maxEventTime, from.maxEventTime);
    into.dirty = true;
    this.windows.delete(from.key);
    list.splice(at, 1);
  }

  /** A new window; `list` is its slot, for windows other than sessions (foldSession places those). */
  private open(key: string, spec: number, group: number, value: string, start: number, end: number, list?: Win[]): Win {
    const session = this.c.specs[spec].spec.kind === "session";
    const w: Win = {
      key,
      spec,
      group,
      value,
      start,
      end,
      maxEventTime: start,
      stats: this.c.metrics.map(() => null),
      distinct: null,
      version: 0,
      idStart: session ? null : start,
      idEnd: session ? null : end,
      dirty: false,
      timerAt: null,
    };
    this.windows.set(key, w);
    if (list) insertByStart(list, w);
    return w;
  }

  private add(w: Win, cs: CompiledSpec, g: number, fact: Fact): void {
    for (const m of cs.metrics) {
      const x = fact.values[m];
      if (x === null) continue;
      const s = w.stats[m] ?? (w.stats[m] = newStats(this.opts.relativeAccuracy));
      addValue(s, x);
    }
    const d = fact.distinct[g];
    if (this.c.groups[g].distinct !== undefined) {
      w.distinct ??= newDistinct();
      if (d !== null) w.distinct = addDistinct(w.distinct, d, this.opts.distinct);
    }
  }

  /** A hopping window's share of an event: its moments (quantiles and distinct values go to the pane). */
  private addMoments(w: Win, cs: CompiledSpec, fact: Fact): void {
    for (const m of cs.metrics) {
      const x = fact.values[m];
      if (x === null) continue;
      addMoments(w.stats[m] ?? (w.stats[m] = newStats(this.opts.relativeAccuracy)), x);
    }
  }

  private addToPane(pane: Pane, cs: CompiledSpec, g: number, fact: Fact): void {
    for (const m of cs.metrics) {
      const x = fact.values[m];
      if (x === null) continue;
      (pane.sketches[m] ??= newSketch(this.opts.relativeAccuracy)).accept(x);
    }
    const d = fact.distinct[g];
    if (this.c.groups[g].distinct !== undefined) {
      pane.distinct ??= newDistinct();
      if (d !== null) pane.distinct = addDistinct(pane.distinct, d, this.opts.distinct);
    }
  }

  private paneOf(spec: number, group: number, value: string, start: number): Pane {
    const slot = this.panes[spec][group];
    let list = slot.get(value);
    if (!list) slot.set(value, (list = []));
    for (let i = list.length - 1; i >= 0; i--) if (list[i].start === start) return list[i];
    const pane: Pane = { start, sketches: this.c.metrics.map(() => null), distinct: null };
    let i = list.length;
    while (i > 0 && list[i - 1].start > start) i--;
    list.splice(i, 0, pane);
    return pane;
  }

  /** The panes a hopping window covers. */
  private panesOf(w: Win): Pane[] {
    const list = this.panes[w.spec][w.group].get(w.value);
    return list ? list.filter((p) => p.start >= w.start && p.start < w.end) : [];
  }

  /** A window's sketch of metric m: a hopping window's own merged with its panes'. */
  private sketchOf(w: Win, m: number): QuantileSketch {
    const own = (w.stats[m] as MetricStats).sketch;
    if (this.c.specs[w.spec].spec.kind !== "hopping") return own;
    const whole = newSketch(this.opts.relativeAccuracy);
    mergeSketch(whole, own);
    for (const pane of this.panesOf(w)) {
      const s = pane.sketches[m];
      if (s) mergeSketch(whole, s);
    }
    return whole;
  }

  /** A window's distinct state: a hopping window's own merged with its panes'. */
  private distinctOf(w: Win): DistinctState | null {
    if (this.c.specs[w.spec].spec.kind !== "hopping" || this.c.groups[w.group].distinct === undefined) return w.distinct;
    let whole = newDistinct();
    if (w.distinct) whole = mergeDistinct(whole, w.distinct, this.opts.distinct);
    for (const pane of this.panesOf(w)) if (pane.distinct) whole = mergeDistinct(whole, pane.distinct, this.opts.distinct);
    return whole;
  }

  private touch(w: Win): void {
    w.dirty = true;
    if (w.end <= this.tracker.watermark) this.due.add(w);
    this.schedule(w);
  }

  // Fire at the end while the watermark is before it, otherwise wake at end + lateness to purge.
  private schedule(w: Win): void {
    const at = w.end > this.tracker.watermark ? w.end : w.end + this.lateness;
    if (w.timerAt === null || at < w.timerAt) {
      w.timerAt = at;
      this.timers.push(at, w);
    }
  }

  private advance(nowMs: number, out: Output[]): Output[] {
    let woken: Win[] | undefined;
    if (this.tracker.advance(nowMs)) {
      const wm = this.tracker.watermark;
      for (let f = this.buffer.peek(); f && f.t < wm; f = this.buffer.peek()) {
        this.buffer.pop();
        this.fold(f, false, []);
      }
      for (let at = this.expiring.peek(); at !== undefined && at <= wm; at = this.expiring.peek()) {
        this.seen.delete(this.expiring.pop() as string);
      }
      for (let at = this.timers.peek(); at !== undefined && at <= wm; at = this.timers.peek()) {
        const w = this.timers.pop() as Win;
        if (w.timerAt !== at || this.windows.get(w.key) !== w) continue;
        w.timerAt = null;
        (woken ??= []).push(w);
        this.due.add(w);
      }
    }
    if (this.retracts.length > 0) {
      for (const r of this.retracts) out.push(r);
      this.retracts = [];
    }
    this.emit(out);
    const wm = this.tracker.watermark;
    for (const w of woken ?? []) {
      if (!this.windows.has(w.key)) continue;
      if (w.end + this.lateness <= wm) this.purge(w);
      else this.schedule(w);
    }
    return out;
  }

  private emit(out: Output[]): void {
    if (this.due.size === 0) return;
    const wm = this.tracker.watermark;
    const ready: Win[] = [];
    for (const w of this.due) {
      if (w.dirty && w.end <= wm && this.windows.get(w.key) === w) ready.push(w);
    }
    this.due.clear();
    ready.sort(emitOrder);
    for (const w of ready) {
      w.version++;
      w.dirty = false;
      if (w.idStart === null) {
        w.idStart = w.start;
        w.idEnd = w.end;
      }
      for (const row of this.rows(w, this.c.specs[w.spec], w.version)) out.push({ type: "window", row });
    }
  }

  private purge(w: Win): void {
    this.windows.delete(w.key);
    // The panes in [start, start + slide) have this window as the last that covers them.
    const spec = this.c.specs[w.spec].spec;
    if (spec.kind === "hopping") {
      const panes = this.panes[w.spec][w.group];
      const list = panes.get(w.value);
      if (list) {
        const kept = list.filter((p) => p.start < w.start || p.start >= w.start + spec.slideMs);
        if (kept.length === 0) panes.delete(w.value);
        else if (kept.length < list.length) panes.set(w.value, kept);
      }
    }
    const slot = this.slots[w.spec][w.group];
    const list = slot.get(w.value);
    if (!list) return;
    const at = list.indexOf(w);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) slot.delete(w.value);
  }

  private emptySlots<T>(): Map<string, T[]>[][] {
    return this.c.specs.map(() => this.c.groups.map(() => new Map<string, T[]>()));
  }

  private slotOf(spec: number, group: number, value: string): Win[] {
    const slot = this.slots[spec][group];
    let list = slot.get(value);
    if (!list) slot.set(value, (list = []));
    return list;
  }

  /** The session index as snapshots carry it: [[spec, group, value] as JSON, window keys by start]. */
  private sessionIndex(): [string, string[]][] {
    const out: [string, string[]][] = [];
    this.c.specs.forEach((cs, spec) => {
      if (cs.spec.kind !== "session") return;
      this.slots[spec].forEach((slot, group) => {
        for (const [value, list] of slot) out.push([JSON.stringify([spec, group, value]), list.map((w) => w.key)]);
      });
    });
    return out;
  }

  private rows(w: Win, cs: CompiledSpec, version: number): WindowResult[] {
    const kind = cs.spec.kind;
    const key = this.keyLabel(w.group, w.value);
    const distinctState = this.distinctOf(w);
    const distinct = this.c.groups[w.group].distinct === undefined ? null : distinctState ? countDistinct(distinctState) : 0;
    const rows: WindowResult[] = [];
    for (const m of cs.metrics) {
      const s = w.stats[m];
      if (!s) continue;
      const metric = this.c.metrics[m].name;
      rows.push({
        window_id: windowId(this.c.source, kind, key, metric, w.idStart ?? w.start, w.idEnd ?? w.end),
        source: this.c.source,
        kind,
        key,
        metric,
        window_start: w.start,
        window_end: w.end,
        ...summarize(s, this.sketchOf(w, m)),
        distinct_count: distinct,
        version,
      });
    }
    return rows;
  }

  private refer(refs: LateWindowRef[], metrics: number[], g: number, value: string, kind: WindowKind, start: number, end: number): void {
    const key = this.keyLabel(g, value);
    for (const m of metrics) {
      const metric = this.c.metrics[m].name;
      refs.push({ window_id: windowId(this.c.source, kind, key, metric, start, end), kind, key, metric, window_start: start, window_end: end });
    }
  }

  private keyLabel(g: number, value: string): string {
    const group = this.c.groups[g];
    return group.field === undefined ? value : `${group.name}=${value}`;
  }

  private win(key: string): Win {
    const w = this.windows.get(key);
    if (!w) throw new Error(`session index names window ${key}, which is gone`);
    return w;
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function findByStart(list: readonly Win[], start: number): Win | undefined {
  for (let i = list.length - 1; i >= 0; i--) if (list[i].start === start) return list[i];
  return undefined;
}

function insertByStart(list: Win[], w: Win): void {
  let i = list.length;
  while (i > 0 && list[i - 1].start > w.start) i--;
  list.splice(i, 0, w);
}

function emitOrder(a: Win, b: Win): number {
  return a.end - b.end || a.start - b.start || a.spec - b.spec || a.group - b.group || compare(a.value, b.value) || compare(a.key, b.key);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function label(v: unknown): string | null {
  if (typeof v === "string" && v !== "") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return null;
}

function finiteNumber(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
