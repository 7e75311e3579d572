import { judgeThenObserve, newCalibrator, type CalibratorConfig, type CalibratorState } from "./calibrate.ts";
import { newNovelty, pushNovelty, releaseNovelty, resizeNovelty, type NoveltyConfig, type NoveltyState } from "./novelty.ts";

/**
 * Why a point got its score.
 *
 * `signal` names the time scale whose pattern was most novel ("novel-pattern/1" = the last 8-16
 * points, "/4" = the last 32-64 points averaged by 4, "/16" = the last 128-256 by 16), or
 * "out-of-range" when the value left the range of every value seen before, or "flatline" when the
 * same value has repeated for longer than ever before (and longer than any pattern). `context` names the
 * simple predictor the value departs from most (level, daily or weekly profile, previous value),
 * and `expected`/`observed` come from it (from the range seen so far for "out-of-range"), so an
 * operator sees what "normal" would have been.
 *
 * @example
 * const { score, explanation } = detector.update(Date.parse("2024-01-01T00:05:00Z"), 42);
 * if (score > 0.5) {
 *   const { context, observed, expected } = explanation;
 *   console.log(`${context}: saw ${observed}, expected ${expected.low}..${expected.high}`);
 * }
 */
export interface AnomalyExplanation {
  /** Signal that set the score: "novel-pattern/<step>", "out-of-range", "flatline", or "warmup" / "invalid". */
  signal: string;
  /** Predictor the value departs from most: "level", "seasonal-day", "seasonal-week" or "rate". */
  context: string;
  /** The value seen. */
  observed: number;
  /** Range the context predictor considered normal (prediction ± 4 mean absolute residuals); for "out-of-range" and "flatline", the lowest and highest values seen before. */
  expected: { low: number; high: number };
  /** Nearest-neighbour distance of the newest pattern, in units of its long-run average (1 = typical), averaged over pattern lengths. */
  novelty: number;
  /** Tail probability of that novelty under its own history, Bonferroni-corrected over time scales; for "out-of-range" ("flatline"), how often this series left its range (set a record run) before. */
  pValue: number;
  /** -ln(pValue): additive surprise, unbounded. */
  surprise: number;
  /** True when the score was held at 0 because a recent alert was at least as surprising. */
  suppressed: boolean;
}

/** One scored point. `score` is in [0, 1]; higher is more anomalous. */
export interface AnomalyResult {
  score: number;
  explanation: AnomalyExplanation;
}

/**
 * Options; every field has a default, and the defaults are what NAB was scored with.
 *
 * @example
 * const detector = createUnivariateDetector({ warmup: 300 });
 */
export interface UnivariateOptions {
  /** Points scored 0 while statistics settle. Default 150. */
  warmup?: number;
  /** Memory of the calibration histograms, in observations. Default 3000. */
  memory?: number;
  /** Time constant, in points, of the decay of the last alert's surprise that a new alert must beat. Default 300. */
  suppression?: number;
  /** Largest seasonal profile kept for explanations, in points (bounds memory). Default 2016 (a week of 5-minute points). */
  maxSeason?: number;
}

/** A streaming detector for one series. State is plain JSON, bounded in size. */
export interface UnivariateDetector {
  /** Scores one point; timestamps must be non-decreasing. Non-finite values score 0 and are skipped. */
  update(timestampMs: number, value: number): AnomalyResult;
  /**
   * Scores one point exactly as `update` does and returns only the score: no explanation is built
   * (most points score 0, and a caller that streams many series need not pay for one each time).
   * `lastExplanation()` then gives the explanation `update` would have returned.
   */
  updateScore(timestampMs: number, value: number): number;
  /** The explanation of the point last scored by `update` or `updateScore`. */
  lastExplanation(): AnomalyExplanation;
  /** A deep copy of the state, safe to `JSON.stringify`. */
  snapshot(): UnivariateSnapshot;
  /** Replaces the state with one taken by `snapshot()` (of any instance with the same options). */
  restore(snapshot: UnivariateSnapshot): void;
  /**
   * Frees the WebAssembly memory the pattern scans hold, now instead of when the detector is
   * garbage collected: call it for a detector you drop (an evicted key). The detector stays
   * usable: its next point rebuilds the scans from the state.
   */
  release(): void;
}

/** The snapshot format: versioned plain JSON. */
export type UnivariateSnapshot = { version: 5 } & Record<string, unknown>;

export class SnapshotError extends Error {
  override name = "SnapshotError";
}

const CONTEXTS = ["rate", "level", "seasonal-day", "seasonal-week"] as const;
type ContextName = (typeof CONTEXTS)[number];

interface SeasonState {
  period: number;
  /**
   * Per phase: the profile value and how often the phase was seen. Held up to the highest phase
   * seen (phases past the arrays are unseen: value 0, no visits), so a week's profile costs its
   * full length only once a week has passed; older snapshots hold every phase.
   */
  profile: number[];
  visits: number[];
}

/**
 * The snapshot's layout (version 5): null where nothing was seen yet. The live state
 * ({@link State}) holds the same fields with one type each from construction, so V8 compiles the
 * per-point code once instead of again at each null → number or null → object change.
 */
interface SnapshotState {
  version: 5;
  n: number;
  lastTs: number | null;
  dtSamples: number[];
  /** Sampling interval in ms, 0 until learnt from the first timestamps. */
  dt: number;
  prev: number | null;
  level: number;
  /** Long-run mean absolute residual of each context predictor. */
  residualScale: Record<ContextName, number>;
  day: SeasonState | null;
  week: SeasonState | null;
  novelty: NoveltyState[];
  /** Long-run mean nearest-neighbour distance per time scale and pattern length: the unit novelty is measured in. */
  noveltyUnit: number[][];
  calibrators: CalibratorState[][];
  /** Decaying surprise of the last alert. */
  lastSurprise: number;
  /**
   * Lowest and highest value seen, with decayed counts of the points seen and of the points past
   * warm-up that left the range: how often leaving it is normal for this series. Null before the first value.
   */
  range: { low: number; high: number; breaks: number; points: number } | null;
  /** Current run of identical values, the longest completed run, and decayed count of flatline alerts' records. Null before version 4. */
  flat: { run: number; record: number; breaks: number } | null;
}

/**
 * {@link SnapshotState} with one type per field: no timestamp or previous value yet is NaN (only
 * finite values are ever stored), an unlearnt season has period 0, a range not yet seen has NaN
 * bounds, and a run not yet started has length 0 (a value always starts a run of at least 1).
 */
interface State {
  version: 5;
  n: number;
  lastTs: number;
  dtSamples: number[];
  dt: number;
  prev: number;
  level: number;
  residualScale: Record<ContextName, number>;
  day: SeasonState;
  week: SeasonState;
  novelty: NoveltyState[];
  noveltyUnit: number[][];
  calibrators: CalibratorState[][];
  lastSurprise: number;
  range: { low: number; high: number; breaks: number; points: number };
  flat: { run: number; record: number; breaks: number };
}

const NO_SEASON = 0;
const seasonOrNull = (s: SeasonState): SeasonState | null => (s.period === NO_SEASON ? null : s);

const DAY_MS = 86_400_000;
const DT_SAMPLES = 16;
const A_SLOW = 1 / 1000;
const A_LEVEL = 1 / 64;
const A_PROFILE = 0.25;
/**
 * Time scales: raw points, then means of 4 and of 16, each the newest pattern against ~1000 past
 * ones, at three pattern lengths whose surprises are averaged. One length (12) was the most
 * sensitive constant of the detector (8 or 16 alone lost 4 points on NAB's public series); the
 * mean over 8, 12 and 16 needs no choice among them and scored 2.4 points higher in 2-fold CV.
 */
const SCALES: NoveltyConfig[] = [1, 4, 16].map((step) => ({ step, lengths: [8, 12, 16], capacity: 1000 }));
/** The novelty signals' names, by time scale. */
const NOVEL_SIGNAL: Record<number, string> = Object.fromEntries(SCALES.map((c) => [c.step, `novel-pattern/${c.step}`]));
/** A new alert must beat the decayed last one by this many nats. */
const ALERT_MARGIN = 1;
/**
 * A value beyond the range seen so far by more than this share of the range is out of range
 * (HTM's NAB detector uses the same 5% "spatial tolerance"). Tried on a split of the public
 * NAB series: 2% helped the half it was tried on and hurt the other, 10% and 20% hurt both.
 */
const RANGE_TOLERANCE = 0.05;
/**
 * Shortest run of identical values the flatline signal judges: the longest stretch a novelty
 * pattern spans (12 means of 16 points). A shorter run is a pattern the novelty test already
 * compares with its past; a longer one looks the same to it at every scale, however long it lasts.
 */
const FLAT_MIN_RUN = Math.max(...SCALES.map((c) => c.step * 12));


function isOutOfRange(seen: { low: number; high: number }, x: number): boolean {
  const slack = RANGE_TOLERANCE * (seen.high - seen.low);
  return slack > 0 && (x > seen.high + slack || x < seen.low - slack);
}

/**
 * Advances the run of identical values and says whether it has just become longer than every
 * earlier completed run (and at least FLAT_MIN_RUN): a stuck sensor, a feed that stopped. A run
 * that began during warm-up is how the series started, not a change, and is never flagged.
 */
function stuckRecord(f: { run: number; record: number }, repeat: boolean, n: number, warmup: number): boolean {
  if (repeat) f.run++;
  else {
    f.record = Math.max(f.record, f.run);
    f.run = 1;
  }
  return f.run === Math.max(FLAT_MIN_RUN, f.record + 1) && n + 1 - f.run >= warmup;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function newSeason(period: number): SeasonState {
  return { period, profile: [], visits: [] };
}

function ewma(current: number, x: number, alpha: number, first: boolean): number {
  return first ? x : current + (x - current) * alpha;
}

/**
 * Creates a streaming univariate anomaly detector.
 *
 * At three time scales (raw, means of 4, means of 16) it measures how far the newest 8-, 12- and
 * 16-value patterns are from their nearest neighbours among the ~1000 before: recurring spikes, daily
 * cycles and known levels have close neighbours, new levels, shapes, amplitudes and volatility
 * do not. Each scale's distance is calibrated against its own history into a tail probability
 * (decayed log-histogram, Hill-estimated Pareto tail), the three lengths' surprises are
 * averaged (no single length to choose), and the most surprising scale sets the
 * score. A value beyond every value seen before (by 5% of that range, as in HTM's detector) has
 * no neighbour to be measured against; its surprise is how rarely this series has left its
 * range (-ln of the Laplace estimate, decayed like the calibrators), so a drifting series that
 * keeps setting records does not alert on each one. A run of one repeated value longer than every
 * earlier run and than the longest pattern (192 points) is a flatline, priced the same way; the
 * novelty test cannot see it, as a flat pattern has flat neighbours. An alert must beat the decaying surprise of the previous one, so one incident is one alert.
 * Level, daily/weekly profiles (phase from timestamps) and rate of change are tracked to explain
 * what a flagged value departs from.
 *
 * @example
 * const d = createUnivariateDetector();
 * for (const [t, v] of points) {
 *   const { score, explanation } = d.update(t, v);
 *   if (score > 0.5) console.log(t, explanation.signal, explanation.context);
 * }
 * const saved = JSON.stringify(d.snapshot());
 * const again = createUnivariateDetector();
 * again.restore(JSON.parse(saved));
 */
export function createUnivariateDetector(options: UnivariateOptions = {}): UnivariateDetector {
  const warmup = options.warmup ?? 150;
  const suppressionDecay = Math.exp(-1 / (options.suppression ?? 300));
  const maxSeason = options.maxSeason ?? 2016;
  const cal: CalibratorConfig = {
    bins: 400,
    width: 0.025,
    decay: 1 - 1 / (options.memory ?? 3000),
    minCount: 100,
    tailMass: 0.02,
    maxTailIndex: 10,
  };

  const fresh = (): State => ({
    version: 5,
    n: 0,
    lastTs: NaN,
    dtSamples: [],
    dt: 0,
    prev: NaN,
    level: 0,
    residualScale: { rate: 0, level: 0, "seasonal-day": 0, "seasonal-week": 0 },
    day: newSeason(NO_SEASON),
    week: newSeason(NO_SEASON),
    novelty: SCALES.map((c) => newNovelty(c)),
    noveltyUnit: SCALES.map((c) => c.lengths.map(() => 0)),
    calibrators: SCALES.map((c) => c.lengths.map(() => newCalibrator(cal))),
    lastSurprise: 0,
    range: { low: NaN, high: NaN, breaks: 0, points: 0 },
    flat: { run: 0, record: 0, breaks: 0 },
  });

  /** The old layout, field for field in its order (checkpoints and the exactness hashes read it). */
  function toSnapshot(s: State): SnapshotState {
    const seen = s.range.low === s.range.low;
    return {
      version: 5,
      n: s.n,
      lastTs: s.lastTs === s.lastTs ? s.lastTs : null,
      dtSamples: s.dtSamples,
      dt: s.dt,
      prev: s.prev === s.prev ? s.prev : null,
      level: s.level,
      residualScale: s.residualScale,
      day: seasonOrNull(s.day),
      week: seasonOrNull(s.week),
      novelty: s.novelty,
      noveltyUnit: s.noveltyUnit,
      calibrators: s.calibrators,
      lastSurprise: s.lastSurprise,
      range: seen ? s.range : null,
      flat: s.flat.run === 0 ? null : s.flat,
    };
  }

  function fromSnapshot(s: SnapshotState): State {
    return {
      version: 5,
      n: s.n,
      lastTs: s.lastTs ?? NaN,
      dtSamples: s.dtSamples,
      dt: s.dt,
      prev: s.prev ?? NaN,
      level: s.level,
      residualScale: s.residualScale,
      day: s.day ?? newSeason(NO_SEASON),
      week: s.week ?? newSeason(NO_SEASON),
      novelty: s.novelty,
      noveltyUnit: s.noveltyUnit,
      calibrators: s.calibrators,
      lastSurprise: s.lastSurprise,
      range: s.range ?? { low: NaN, high: NaN, breaks: 0, points: 0 },
      flat: s.flat ?? { run: 0, record: 0, breaks: 0 },
    };
  }
  let st = fresh();

  function phase(season: SeasonState, ts: number): number {
    const spanMs = st.dt * season.period;
    const r = ((ts % spanMs) + spanMs) % spanMs;
    return Math.min(season.period - 1, Math.floor(r / st.dt));
  }

  function learnSampling(ts: number): void {
    // NaN (no timestamp yet) compares false.
    if (st.dt === 0 && ts > st.lastTs) {
      st.dtSamples.push(ts - st.lastTs);
      if (st.dtSamples.length >= DT_SAMPLES) {
        st.dt = median(st.dtSamples);
        const perDay = Math.round(DAY_MS / st.dt);
        if (perDay >= 4 && perDay <= maxSeason) st.day = newSeason(perDay);
        if (perDay >= 4 && perDay * 7 <= maxSeason) st.week = newSeason(perDay * 7);
      }
    }
    st.lastTs = ts;
  }

  /** The season's profile value at this phase, or NaN when the season or the phase is not learnt. */
  function seasonalPrediction(season: SeasonState, ts: number): number {
    if (season.period === NO_SEASON) return NaN;
    const k = phase(season, ts);
    return (season.visits[k] ?? 0) >= 2 ? season.profile[k] : NaN;
  }

  /**
   * What the last point's explanation is built from (kept as numbers so a point that scores 0
   * builds nothing). `kind` says which explanation: an invalid value, warm-up, or a scored point.
   */
  const last = {
    kind: "warmup" as "invalid" | "warmup" | "scored",
    value: 0,
    level: 0,
    context: "level" as ContextName,
    contextLow: 0,
    contextHigh: 0,
    signal: "",
    againstRange: false,
    rangeLow: 0,
    rangeHigh: 0,
    novelty: 0,
    pValue: 1,
    surprise: 0,
    suppressed: false,
  };

  /** The context predictor the value departs from most, in units of that predictor's usual error; into `last`. */
  function explainContext(ts: number, x: number): void {
    const floor = 1e-9 + 1e-6 * Math.abs(st.level);
    let context: ContextName = "level";
    let low = x;
    let high = x;
    let bestZ = -1;
    // Every prediction is made before any residual scale learns from this value.
    const day = seasonalPrediction(st.day, ts);
    const week = seasonalPrediction(st.week, ts);
    for (let c = 0; c < CONTEXTS.length; c++) {
      const name = CONTEXTS[c];
      const pred = c === 0 ? st.prev : c === 1 ? (st.n === 0 ? NaN : st.level) : c === 2 ? day : week;
      if (pred !== pred) continue;
      const e = x - pred;
      const scale = Math.max(st.residualScale[name], floor);
      const z = Math.abs(e) / scale;
      if (z > bestZ) {
        bestZ = z;
        context = name;
        low = pred - 4 * scale;
        high = pred + 4 * scale;
      }
      st.residualScale[name] = ewma(st.residualScale[name], Math.abs(e), A_SLOW, st.residualScale[name] === 0);
    }
    last.context = context;
    last.contextLow = low;
    last.contextHigh = high;
  }

  function learnSeason(s: SeasonState, ts: number, x: number): void {
    if (s.period === NO_SEASON) return;
    const k = phase(s, ts);
    while (s.visits.length <= k) {
      s.profile.push(0);
      s.visits.push(0);
    }
    s.profile[k] = ewma(s.profile[k], x, A_PROFILE, s.visits[k] === 0);
    s.visits[k]++;
  }

  function lastExplanation(): AnomalyExplanation {
    if (last.kind === "invalid") {
      return { signal: "invalid", context: "level", observed: last.value, expected: { low: last.level, high: last.level }, novelty: 0, pValue: 1, surprise: 0, suppressed: false };
    }
    if (last.kind === "warmup") {
      return { signal: "warmup", context: last.context, observed: last.value, expected: { low: last.contextLow, high: last.contextHigh }, novelty: 0, pValue: 1, surprise: 0, suppressed: false };
    }
    return {
      signal: last.signal,
      context: last.context,
      observed: last.value,
      expected: last.againstRange ? { low: last.rangeLow, high: last.rangeHigh } : { low: last.contextLow, high: last.contextHigh },
      novelty: last.novelty,
      pValue: last.pValue,
      surprise: last.surprise,
      suppressed: last.suppressed,
    };
  }

  function updateScore(timestampMs: number, value: number): number {
    last.value = value;
    if (!Number.isFinite(value) || !Number.isFinite(timestampMs)) {
      last.kind = "invalid";
      last.level = st.level;
      return 0;
    }
    learnSampling(timestampMs);
    explainContext(timestampMs, value);
    const floor = 1e-9 + 1e-6 * Math.abs(st.level);

    // The most surprising scale (plain loops and locals: this runs for every point of every series).
    let haveBest = false;
    let bestS = 0;
    let bestP = 1;
    let bestScale = 0;
    let bestNovelty = 0;
    let active = 0;
    for (let i = 0; i < SCALES.length; i++) {
      const cfg = SCALES[i];
      const dists = pushNovelty(cfg, st.novelty[i], value);
      if (dists === null) continue;
      const units = st.noveltyUnit[i];
      const calibrators = st.calibrators[i];
      let s = 0;
      let novelty = 0;
      let calibrated = 0;
      for (let j = 0; j < dists.length; j++) {
        const dist = dists[j];
        if (dist === null) continue;
        const unit = units[j];
        units[j] = ewma(unit, dist, A_SLOW, unit === 0);
        if (unit <= floor) continue;
        const nov = dist / unit;
        s -= Math.log(judgeThenObserve(cal, calibrators[j], nov));
        novelty += nov;
        calibrated++;
      }
      if (calibrated < dists.length) continue;
      active++;
      s /= calibrated;
      if (!haveBest || s > bestS) {
        haveBest = true;
        bestS = s;
        bestP = Math.exp(-s);
        bestScale = cfg.step;
        bestNovelty = novelty / calibrated;
      }
    }

    const seen = st.range;
    // NaN bounds: no value seen yet.
    const haveRange = seen.low === seen.low;
    const outOfRange = haveRange && isOutOfRange(seen, value);
    let rangeSurprise = 0;
    // The range before this value: what an out-of-range or flatline value is explained against.
    const seenLow = haveRange ? seen.low : value;
    const seenHigh = haveRange ? seen.high : value;
    if (!haveRange) {
      seen.low = value;
      seen.high = value;
      seen.breaks = 0;
      seen.points = 0;
    } else {
      // Laplace estimate of how often this series leaves its range; while the range is still
      // forming (warm-up) leaving it is expected and is not held against later breaks.
      rangeSurprise = -Math.log((seen.breaks + 1) / (seen.points + 2));
      const counted = outOfRange && st.n >= warmup ? 1 : 0;
      seen.low = Math.min(seen.low, value);
      seen.high = Math.max(seen.high, value);
      seen.breaks = seen.breaks * cal.decay + counted;
      seen.points = seen.points * cal.decay + 1;
    }
    const f = st.flat;
    const flatNow = stuckRecord(f, value === st.prev, st.n, warmup);
    const points = seen.points;
    // Priced like a range break: by how often this series has set such records before.
    const flatSurprise = flatNow ? -Math.log((f.breaks + 1) / (points + 2)) : 0;
    f.breaks = f.breaks * cal.decay + (flatNow ? 1 : 0);
    learnSeason(st.day, timestampMs, value);
    learnSeason(st.week, timestampMs, value);
    st.level = ewma(st.level, value, A_LEVEL, st.n === 0);
    st.prev = value;
    st.n++;

    if (!haveBest || st.n <= warmup) {
      last.kind = "warmup";
      return 0;
    }
    const novel = Math.max(0, bestS - Math.log(active));
    const jump = outOfRange && rangeSurprise > novel;
    const stuck = flatNow && flatSurprise > Math.max(novel, jump ? rangeSurprise : 0);
    const surprise = stuck ? flatSurprise : jump ? rangeSurprise : novel;
    const suppressed = surprise <= st.lastSurprise + ALERT_MARGIN;
    st.lastSurprise = Math.max(surprise, st.lastSurprise * suppressionDecay);
    const out = suppressed ? 0 : surprise;
    last.kind = "scored";
    last.signal = stuck ? "flatline" : jump ? "out-of-range" : NOVEL_SIGNAL[bestScale];
    last.againstRange = (jump || stuck) && haveRange;
    last.rangeLow = seenLow;
    last.rangeHigh = seenHigh;
    last.novelty = bestNovelty;
    last.pValue = stuck || jump ? Math.exp(-surprise) : Math.min(1, bestP * active);
    last.surprise = surprise;
    last.suppressed = suppressed;
    return 1 - Math.exp(-out / 10);
  }

  return {
    update: (timestampMs, value) => {
      const score = updateScore(timestampMs, value);
      return { score, explanation: lastExplanation() };
    },
    updateScore,
    lastExplanation,
    snapshot: () => structuredClone(toSnapshot(st)) as unknown as UnivariateSnapshot,
    release: () => {
      for (const n of st.novelty) releaseNovelty(n);
    },
    restore(snapshot) {
      const version: unknown = snapshot?.version;
      if (version !== 5 && version !== 4 && version !== 3 && version !== 2) {
        throw new SnapshotError(`unsupported univariate detector snapshot: expected version 5 (or 4, 3, 2), got ${String(version)}`);
      }
      // Version 2 had no range, version 3 no run length: those signals start learning from the
      // next value. Before version 5 novelty had one pattern length (12) per scale: its history
      // is re-laid for the three lengths, which start from its unit and calibration.
      const restored = structuredClone(snapshot) as unknown as SnapshotState;
      for (const n of st.novelty) releaseNovelty(n);
      const single = restored as unknown as { noveltyUnit: number[]; calibrators: CalibratorState[] };
      st = fromSnapshot({
        ...restored,
        ...(version === 5 ? {} : {
          novelty: SCALES.map((c, i) => resizeNovelty(c, restored.novelty[i])),
          noveltyUnit: SCALES.map((c, i) => c.lengths.map(() => single.noveltyUnit[i])),
          calibrators: SCALES.map((c, i) => c.lengths.map(() => structuredClone(single.calibrators[i]))),
        }),
        range: restored.range ?? null,
        flat: restored.flat ?? null,
        version: 5,
      });
    },
  };
}
