import type { Envelope } from "../subjects/envelope.ts";
import type { Source } from "../subjects/sources.ts";

export type WindowKind = "tumbling" | "hopping" | "session";

/**
 * What a source's windows are keyed by. Without `field` the group is the envelope's `key` (the
 * source's entity: sensor, user, customer) and rows carry that value bare; with `field` rows carry
 * `<name>=<value>`, e.g. `site=berlin`.
 *
 * @example
 * { name: "merchant", field: "merchant_id", distinct: "customer_id" }
 */
export interface GroupSpec {
  readonly name: string;
  readonly field?: string;
  /** Payload field whose distinct values are counted per window and group (`distinct_count`). */
  readonly distinct?: string;
}

/**
 * A numeric payload field aggregated per window. Without `field` every event contributes 1, which
 * turns the metric into an event counter (e.g. social `posts`).
 */
export interface MetricSpec {
  readonly name: string;
  readonly field?: string;
}

interface WindowSpecBase {
  /** Group names this window applies to; all of the source's groups when absent. */
  readonly groups?: readonly string[];
  /** Metric names this window aggregates; all of the source's metrics when absent. */
  readonly metrics?: readonly string[];
}

export interface TumblingSpec extends WindowSpecBase {
  readonly kind: "tumbling";
  readonly sizeMs: number;
}

export interface HoppingSpec extends WindowSpecBase {
  readonly kind: "hopping";
  readonly sizeMs: number;
  readonly slideMs: number;
}

export interface SessionSpec extends WindowSpecBase {
  readonly kind: "session";
  readonly gapMs: number;
  readonly maxLengthMs: number;
}

export type WindowSpec = TumblingSpec | HoppingSpec | SessionSpec;

export interface SourceWindowConfig {
  /** How far behind the newest event of a partition an event may be and still count as on time. */
  readonly outOfOrdernessMs: number;
  /** How long after its end (in watermark time) a window still accepts late events. */
  readonly allowedLatenessMs: number;
  /** Processing time without events after which a partition stops holding the watermark back. */
  readonly idleTimeoutMs: number;
  readonly groups: readonly GroupSpec[];
  readonly metrics: readonly MetricSpec[];
  readonly windows: readonly WindowSpec[];
}

/** One of `count` disjoint shards of group keys (see WindowConfig.groupShard). */
export interface GroupShard {
  readonly count: number;
  readonly index: number;
}

export interface WindowConfig {
  readonly sources: Readonly<Partial<Record<Source, SourceWindowConfig>>>;
  /**
   * Partitions 0..n-1 the caller will feed per source. Each holds the watermark back from the
   * first call until it has sent an event or gone idle; without it partitions count once seen.
   */
  readonly partitions?: number;
  /**
   * Fold only the windows of one shard of group keys: a window whose row key (`sensor-7`,
   * `site=berlin`) has `groupShardOf(key, count) === index`. Every event still moves the
   * watermark, so each shard closes its windows exactly when an unsharded engine would; events
   * with no group key in the shard are neither buffered nor remembered. Without it: every key.
   */
  readonly groupShard?: GroupShard;
  /** DDSketch relative accuracy of p50/p95/p99 (0.01 = within 1% of the true value). */
  readonly sketchRelativeAccuracy: number;
  /** Distinct values are counted exactly up to this many per window and group, then by HyperLogLog. */
  readonly distinctExactLimit: number;
  /** HyperLogLog precision p (2^p one-byte registers). */
  readonly hllPrecision: number;
}

/**
 * One row of `sluice.window_aggregates`: one (window, group key, metric). Times are epoch ms. Rows
 * of one window share `version`, which grows by one each time the window is emitted again.
 */
export interface WindowResult {
  window_id: string;
  source: Source;
  kind: WindowKind;
  key: string;
  metric: string;
  window_start: number;
  window_end: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation (0 for a single value). */
  stddev: number;
  p50: number;
  p95: number;
  p99: number;
  /** Distinct values of the group's `distinct` field; null when the group has none configured. */
  distinct_count: number | null;
  version: number;
}

export interface LateWindowRef {
  window_id: string;
  kind: WindowKind;
  key: string;
  metric: string;
  window_start: number;
  window_end: number;
}

/** An event (or the part of it) that arrived after its windows were closed for good. */
export interface LateOutput {
  type: "late";
  reason: "beyond_allowed_lateness";
  source: Source;
  event_id: string;
  event_time: number;
  partition: number;
  watermark: number;
  allowed_lateness_ms: number;
  /** The windows the event missed; it was still counted in any of its windows not listed. */
  windows: LateWindowRef[];
  event: Envelope;
}

/** A window's (new version of its) result. */
export interface WindowOutput {
  type: "window";
  row: WindowResult;
}

/**
 * An already-emitted session that a late event joined onto an earlier emitted session: `row` is its
 * last result with the next version, to be deleted; the data now lives in `merged_into`.
 */
export interface RetractOutput {
  type: "retract";
  row: WindowResult;
  merged_into: string;
}

export type Output = WindowOutput | LateOutput | RetractOutput;

export interface PartitionStatus {
  partition: number;
  max_event_time: number | null;
  watermark: number | null;
  last_seen_ms: number | null;
  idle: boolean;
  /** False from going idle until the partition's own watermark has caught up with the combined one. */
  aligned: boolean;
}

export interface SourceStatus {
  watermark: number | null;
  /** Processing time minus watermark. */
  lag_ms: number | null;
  partitions: PartitionStatus[];
  /** Events waiting for the watermark to pass them. */
  buffered: number;
  open_windows: number;
  dedupe_ids: number;
  events: number;
  duplicates: number;
  late_events: number;
}

export interface WindowEngine {
  onEvent(event: Envelope, partition: number, nowMs: number): Output[];
  onTick(nowMs: number): Output[];
  /** One source's watermark, or the lowest over the sources that have one; null before any. */
  watermark(source?: Source): number | null;
  lagMs(source: Source, nowMs: number): number | null;
  status(nowMs: number): Partial<Record<Source, SourceStatus>>;
  /** Events of sources the config does not cover, which the engine ignores. */
  unconfiguredEvents(): number;
  snapshot(): EngineSnapshot;
  restore(snapshot: EngineSnapshot): void;
}

/** JSON-serialisable engine state; opaque apart from `format` and `config`. */
export interface EngineSnapshot {
  format: 1;
  /** Fingerprint of the config the state was built with; restore refuses another. */
  config: string;
  unconfigured: number;
  sources: Record<string, unknown>;
}
