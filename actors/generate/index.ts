import { subject } from "../../subjects/catalog.ts";
import type { PayloadBySource } from "../../subjects/schemas/index.ts";
import { SOURCES, isSource, type Source } from "../../subjects/sources.ts";
import type { AnomalyLabel } from "./anomalies.ts";
import { createIotModel } from "./iot.ts";
import type { ModelSetup, SourceModel, TimestampMode } from "./model.ts";
import { Rng, streamSeed } from "./random.ts";
import { createSocialModel } from "./social.ts";
import { createTxnModel } from "./txn.ts";

export type { AnomalyKind, AnomalyLabel, IotMetric } from "./anomalies.ts";
export type { TimestampMode } from "./model.ts";

/** One generated event, ready to publish: `JSON.stringify(payload)` on `subject`. */
export type GeneratedEvent = {
  [S in Source]: {
    source: S;
    /** `raw.<source>.<key>`. */
    subject: string;
    /** The entity (sensor, user, customer); a safe subject token. */
    key: string;
    payload: PayloadBySource[S] & { event_id: string };
    /** The event time the generator used, epoch ms (the payload's `ts` may be coarser, e.g. whole seconds). */
    time: number;
    /** Present on injected anomalies only: the ground truth for scoring detectors. */
    label?: AnomalyLabel;
  };
}[Source];

export interface GeneratorOptions {
  /** Any safe integer; the same seed and the same calls give the same events. */
  seed: number;
  /** Which sources to generate; at least one. */
  sources: readonly Source[];
  /** Share of events that belong to an injected anomaly, 0..1. Default 0. */
  anomalyRate?: number;
  /** Event time of the first event when `next()` is called without a time, epoch ms. Default 2026-01-01T00:00:00Z. */
  startTime?: number;
  /** Simulated time between events when `next()` is called without a time. Default 100 ms. */
  intervalMs?: number;
  /** Number of sensors, users and customers. Defaults: iot 24, social 120, txn 200. */
  entities?: Partial<Record<Source, number>>;
  /** Relative share of each source among events; defaults to {@link defaultMix}. */
  mix?: Partial<Record<Source, number>>;
  /** How payloads write `ts`; default "iso". "mixed" gives each entity one of every v1 form. */
  timestamps?: TimestampMode;
  /**
   * Names this run in every event id (`gen-<seed>-<runId>-<n>`), so two runs with one seed are
   * different events; the content still depends on the seed alone. Anything that publishes must
   * pass one (the publisher draws a fresh one per run): without it ids repeat across runs and
   * JetStream's duplicate window drops a second run. Up to 32 letters, digits, `_` or `-`.
   */
  runId?: string;
  /**
   * "joint" adds the payment anomaly kind `takeover`: a few payments that are each unremarkable
   * in one feature (a high but seen amount, a short but seen gap, a place a domestic trip reaches)
   * and unusual only together. Default "default": the three single-feature kinds, and a stream
   * byte-identical to one generated before this option existed.
   */
  paymentAnomalies?: "default" | "joint";
}

export interface EventGenerator {
  readonly seed: number;
  readonly sources: readonly Source[];
  /** The keys (sensor, user, customer ids) a source's events can carry. */
  keys(source: Source): readonly string[];
  /** Reference entries of a source's entities (merchants, sensors, users), as the enrich stage's bucket holds them. */
  references(source: Source): SourceModel<Source>["references"];
  /**
   * The next event, at event time `nowMs` (epoch ms) or, without it, `intervalMs` after the
   * previous one. `source` forces the source, e.g. for a per-source rate; otherwise the mix picks.
   */
  next(nowMs?: number, source?: Source): GeneratedEvent;
  /** `count` events on the simulated clock, `intervalMs` apart. */
  take(count: number): GeneratedEvent[];
}

export class GeneratorOptionsError extends Error {
  readonly option: string;

  constructor(option: string, expected: string, got: unknown) {
    super(`generator option ${option}: expected ${expected}, got ${JSON.stringify(got)}`);
    this.name = "GeneratorOptionsError";
    this.option = option;
  }
}

const DEFAULT_ENTITIES: Record<Source, number> = { iot: 24, social: 120, txn: 200 };
const DEFAULT_WEIGHTS: Record<Source, number> = { iot: 0.5, social: 0.2, txn: 0.3 };
const DEFAULT_START = Date.UTC(2026, 0, 1);

const MODELS: { [S in Source]: (setup: ModelSetup) => SourceModel<S> } = {
  iot: createIotModel,
  social: createSocialModel,
  txn: createTxnModel,
};

/**
 * A sensible share of events per source, over the given sources (the others get 0): sensors
 * report most, payments next, posts least. Shares sum to 1.
 *
 * @example
 * defaultMix(["iot", "txn"]) // { iot: 0.625, social: 0, txn: 0.375 }
 */
export function defaultMix(sources: readonly Source[] = SOURCES): Record<Source, number> {
  const total = sources.reduce((sum, s) => sum + DEFAULT_WEIGHTS[s], 0);
  const mix = { iot: 0, social: 0, txn: 0 };
  for (const s of sources) mix[s] = DEFAULT_WEIGHTS[s] / total;
  return mix;
}

function check(option: string, ok: boolean, expected: string, got: unknown): void {
  if (!ok) throw new GeneratorOptionsError(option, expected, got);
}

/**
 * A deterministic synthetic event source for the `raw.*` subjects. Pure: no I/O, no wall clock
 * and no `Math.random`; every draw comes from faker seeded by `seed`, and time is what the caller
 * passes (or a simulated clock). Events validate against the v1 schemas; `event_id` is
 * `gen-<seed>-<runId>-<counter>`, or `gen-<seed>-<counter>` without a `runId` (in-process use:
 * evaluation, benchmarks), where the same seed repeats ids.
 *
 * Each source draws from its own streams, so the world (sensors, users, customers) depends only on
 * the seed and entity counts, and injected anomalies are laid over the same baseline events that a
 * run without anomalies produces.
 *
 * @example
 * const gen = createGenerator({ seed: 7, sources: ["iot", "txn"], anomalyRate: 0.01 });
 * const e = gen.next(Date.UTC(2026, 10, 27, 10));
 * e.subject // "raw.iot.pinellas-park-indoor-4"
 * e.payload // { event_id: "gen-7-1", sensor_id: "pinellas-park-indoor-4", site: "pinellas-park",
 *           //   ts: "2026-11-27T10:00:00.000Z", temperature: 19.46, humidity: 47.4, battery: 3.329 }
 * e.label   // undefined, or e.g. { kind: "spike", anomaly_id: "iot-a2", step: 0, steps: 1, metric: "temperature", delta: 11.44 }
 *
 * @example
 * // Simulated clock: 1000 events 100 ms apart from startTime.
 * const events = createGenerator({ seed: 7, sources: SOURCES }).take(1000);
 */
export function createGenerator(options: GeneratorOptions): EventGenerator {
  const { seed, anomalyRate = 0, startTime = DEFAULT_START, intervalMs = 100, timestamps = "iso" } = options;
  check("seed", Number.isSafeInteger(seed), "a safe integer", seed);
  check("sources", Array.isArray(options.sources) && options.sources.length > 0 && options.sources.every((s) => isSource(s)), `a non-empty list of ${SOURCES.join(", ")}`, options.sources);
  check("anomalyRate", Number.isFinite(anomalyRate) && anomalyRate >= 0 && anomalyRate <= 1, "a number from 0 to 1", anomalyRate);
  check("startTime", Number.isFinite(startTime), "epoch milliseconds", startTime);
  check("intervalMs", Number.isFinite(intervalMs) && intervalMs > 0, "a positive number of milliseconds", intervalMs);
  check("timestamps", timestamps === "iso" || timestamps === "mixed", `"iso" or "mixed"`, timestamps);
  const paymentAnomalies = options.paymentAnomalies ?? "default";
  check("paymentAnomalies", paymentAnomalies === "default" || paymentAnomalies === "joint", `"default" or "joint"`, options.paymentAnomalies);
  const { runId } = options;
  check("runId", runId === undefined || (typeof runId === "string" && /^[A-Za-z0-9_-]{1,32}$/.test(runId)), "1 to 32 letters, digits, _ or -", runId);
  const idPrefix = runId === undefined ? `gen-${seed}-` : `gen-${seed}-${runId}-`;
  const sources = [...new Set(options.sources)];
  const mix = options.mix ?? defaultMix(sources);
  const weights = sources.map((s) => mix[s] ?? 0);
  check("mix", weights.every((w) => Number.isFinite(w) && w >= 0) && weights.some((w) => w > 0), "non-negative shares, one of them positive", options.mix);

  const models = new Map<Source, SourceModel<Source>>();
  for (const source of sources) {
    const count = options.entities?.[source] ?? DEFAULT_ENTITIES[source];
    check(`entities.${source}`, Number.isSafeInteger(count) && count >= 1, "a positive integer", count);
    models.set(source, MODELS[source]({ seed, count, anomalyRate, timestamps, paymentAnomalies }));
  }
  const picker = new Rng(streamSeed(seed, "mix"));
  let counter = 0;
  let clock = startTime - intervalMs;

  function modelOf(source: Source): SourceModel<Source> {
    const model = models.get(source);
    if (!model) throw new GeneratorOptionsError("sources", `to include ${source}`, sources);
    return model;
  }

  function next(nowMs?: number, source?: Source): GeneratedEvent {
    check("nowMs", nowMs === undefined || Number.isFinite(nowMs), "epoch milliseconds", nowMs);
    clock = nowMs ?? clock + intervalMs;
    const chosen = source ?? picker.weighted(sources, weights);
    const draft = modelOf(chosen).next(clock);
    counter += 1;
    const event = {
      source: chosen,
      subject: subject.raw(chosen, draft.key),
      key: draft.key,
      payload: { event_id: `${idPrefix}${counter}`, ...draft.payload },
      time: clock,
      ...(draft.label ? { label: draft.label } : {}),
    };
    return event as GeneratedEvent;
  }

  return {
    seed,
    sources,
    keys: (source) => modelOf(source).keys,
    references: (source) => modelOf(source).references,
    next,
    take: (count) => Array.from({ length: count }, () => next()),
  };
}
