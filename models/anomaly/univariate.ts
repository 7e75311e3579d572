import { newCalibrator, observe, tailProbability, type CalibratorConfig, type CalibratorState } from "./calibrate.ts";

/**
 * Why a point got its score: the signal with the strongest calibrated surprise, the range it
 * expected and what it saw.
 *
 * @example
 * const { score, explanation } = detector.update(Date.parse("2024-01-01T00:05:00Z"), 42);
 * if (score > 0.8) console.log(`${explanation.signal}: saw ${explanation.observed}, expected ${explanation.expected.low}..${explanation.expected.high}`);
 */
export interface AnomalyExplanation {
  /** Signal that fired, e.g. "spike", "level-shift", "seasonal-day", "variance-up", "variance-down", "rate", or "warmup". */
  signal: string;
  /** What that signal measured for this point (the value itself, a window mean, or a volatility). */
  observed: number;
  /** Range that signal considered normal (roughly its 1-in-10^4 band). */
  expected: { low: number; high: number };
  /** Tail probability of the signal's statistic under its own recent history (Bonferroni-corrected). */
  pValue: number;
  /** -ln(pValue): additive surprise, unbounded. */
  surprise: number;
  /** True when the score was held down because a stronger alert fired recently. */
  suppressed: boolean;
}

/** One scored point. `score` is in [0, 1]; higher is more anomalous. */
export interface AnomalyResult {
  score: number;
  explanation: AnomalyExplanation;
}

/**
 * Options; every field has a default that is used for all series alike.
 *
 * @example
 * const detector = createUnivariateDetector({ warmup: 300 });
 */
export interface UnivariateOptions {
  /** Points scored 0 while statistics settle. Default 150. */
  warmup?: number;
  /** Memory of the calibration histograms, in points. Default 3000. */
  memory?: number;
  /** Time constant of alert suppression, in points: a later alert must beat the decayed surprise of the last one. Default 300. */
  suppression?: number;
  /** Largest seasonal period kept, in points (bounds memory). Default 2016 (a week of 5-minute points). */
  maxSeason?: number;
}

/** A streaming detector for one series. State is plain JSON, bounded in size. */
export interface UnivariateDetector {
  /** Scores one point; timestamps must be non-decreasing. Non-finite values score 0 and are skipped. */
  update(timestampMs: number, value: number): AnomalyResult;
  /** A deep copy of the state, safe to `JSON.stringify`. */
  snapshot(): UnivariateSnapshot;
  /** Replaces the state with a snapshot taken by `snapshot()` (possibly of another instance with the same options). */
  restore(snapshot: UnivariateSnapshot): void;
}

export class SnapshotError extends Error {
  override name = "SnapshotError";
}

const SOURCES = ["rate", "level", "seasonal-day", "seasonal-week"] as const;
type SourceName = (typeof SOURCES)[number];

interface SourceState {
  /** Long-run mean absolute residual: the unit residuals are measured in. */
  scale: number;
  /** Short exponentially weighted means of the normalised residual (signed), per window. */
  mean8: number;
  mean32: number;
  /** Exponentially weighted mean of |normalised residual|. */
  abs16: number;
  /** Exponentially weighted mean |residual| over ~32 points, for variance drops. */
  vol32: number;
  ready: number;
}

interface SeasonState {
  period: number;
  profile: number[];
  visits: number[];
}

interface State {
  version: 1;
  n: number;
  lastTs: number | null;
  dtSamples: number[];
  dt: number;
  prev: number | null;
  level: number;
  sources: Record<SourceName, SourceState>;
  day: SeasonState | null;
  week: SeasonState | null;
  calibrators: Record<string, CalibratorState>;
  lastSurprise: number;
}

/** The snapshot format: versioned plain JSON. */
export type UnivariateSnapshot = { version: 1 } & Record<string, unknown>;

const DAY_MS = 86_400_000;
const DT_SAMPLES = 16;
const A_SCALE = 1 / 1000;
const A_LEVEL = 1 / 64;
const A_PROFILE = 0.25;

interface SignalDef { name: string; source: SourceName; kind: "spike" | "shift8" | "shift32" | "vol-up" | "vol-down" }

const SIGNALS: SignalDef[] = SOURCES.flatMap((source): SignalDef[] =>
  source === "rate"
    ? [{ name: "rate", source, kind: "spike" }, { name: "variance-up", source, kind: "vol-up" }, { name: "variance-down", source, kind: "vol-down" }]
    : [
        { name: `${source}:spike`, source, kind: "spike" },
        { name: `${source}:shift8`, source, kind: "shift8" },
        { name: `${source}:shift32`, source, kind: "shift32" },
      ],
);

function newSource(): SourceState {
  return { scale: 0, mean8: 0, mean32: 0, abs16: 0, vol32: 0, ready: 0 };
}

function newSeason(period: number): SeasonState {
  return { period, profile: new Array<number>(period).fill(0), visits: new Array<number>(period).fill(0) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Creates a streaming univariate anomaly detector: an ensemble of residual signals (rate of
 * change, deviation from a smoothed level, deviation from daily and weekly profiles learnt from
 * timestamps), each watched at several window lengths, each calibrated against its own history
 * into a tail probability; the most surprising one sets the score, and a fresh alert must beat
 * the decaying surprise of the previous one.
 *
 * @example
 * const d = createUnivariateDetector();
 * for (const [t, v] of points) {
 *   const { score, explanation } = d.update(t, v);
 *   if (score > 0.7) alert(explanation);
 * }
 * const saved = JSON.stringify(d.snapshot());
 * const again = createUnivariateDetector();
 * again.restore(JSON.parse(saved));
 */
export function createUnivariateDetector(options: UnivariateOptions = {}): UnivariateDetector {
  const warmup = options.warmup ?? 150;
  const memory = options.memory ?? 3000;
  const suppressionDecay = Math.exp(-1 / (options.suppression ?? 300));
  const maxSeason = options.maxSeason ?? 2016;
  const cal: CalibratorConfig = { bins: 400, width: 0.025, decay: 1 - 1 / memory, minCount: 100, tailMass: 0.02, maxTailIndex: 10 };

  const fresh = (): State => ({
    version: 1,
    n: 0,
    lastTs: null,
    dtSamples: [],
    dt: 0,
    prev: null,
    level: 0,
    sources: { rate: newSource(), level: newSource(), "seasonal-day": newSource(), "seasonal-week": newSource() },
    day: null,
    week: null,
    calibrators: Object.fromEntries(SIGNALS.map((s) => [s.name, newCalibrator(cal)])),
    lastSurprise: 0,
  });
  let st = fresh();

  function phase(season: SeasonState, ts: number): number {
    const spanMs = st.dt * season.period;
    const r = ((ts % spanMs) + spanMs) % spanMs;
    return Math.min(season.period - 1, Math.floor(r / st.dt));
  }

  function learnSampling(ts: number): void {
    if (st.lastTs !== null && st.dt === 0 && ts > st.lastTs) {
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

  /** Residual of each source for this value (null when the source has no prediction yet), and the prediction. */
  function residuals(ts: number, x: number): Record<SourceName, { e: number; pred: number } | null> {
    const seasonal = (s: SeasonState | null) => {
      if (!s) return null;
      const k = phase(s, ts);
      return s.visits[k] >= 2 ? { e: x - s.profile[k], pred: s.profile[k] } : null;
    };
    return {
      rate: st.prev === null ? null : { e: x - st.prev, pred: st.prev },
      level: st.n === 0 ? null : { e: x - st.level, pred: st.level },
      "seasonal-day": seasonal(st.day),
      "seasonal-week": seasonal(st.week),
    };
  }

  function learnSeason(s: SeasonState | null, ts: number, x: number): void {
    if (!s) return;
    const k = phase(s, ts);
    s.profile[k] = s.visits[k] === 0 ? x : s.profile[k] + A_PROFILE * (x - s.profile[k]);
    s.visits[k]++;
  }

  function update(timestampMs: number, value: number): AnomalyResult {
    const quiet = (signal: string): AnomalyResult => ({
      score: 0,
      explanation: { signal, observed: value, expected: { low: value, high: value }, pValue: 1, surprise: 0, suppressed: false },
    });
    if (!Number.isFinite(value) || !Number.isFinite(timestampMs)) return quiet("invalid");
    learnSampling(timestampMs);
    const res = residuals(timestampMs, value);
    const floor = 1e-9 + 1e-6 * Math.abs(st.level);

    let best: { s: number; p: number; def: SignalDef; observed: number; low: number; high: number } | null = null;
    let active = 0;
    const stats: { def: SignalDef; stat: number }[] = [];
    for (const src of SOURCES) {
      const r = res[src];
      if (!r) continue;
      const ss = st.sources[src];
      const scale = Math.max(ss.scale, floor);
      const z = r.e / scale;
      const first = ss.ready === 0;
      ss.mean8 = first ? z : ss.mean8 + (z - ss.mean8) / 8;
      ss.mean32 = first ? z : ss.mean32 + (z - ss.mean32) / 32;
      ss.abs16 = first ? Math.abs(z) : ss.abs16 + (Math.abs(z) - ss.abs16) / 16;
      ss.vol32 = first ? Math.abs(r.e) : ss.vol32 + (Math.abs(r.e) - ss.vol32) / 32;
      ss.ready++;
      if (ss.ready < 32) continue;
      for (const def of SIGNALS) {
        if (def.source !== src) continue;
        let stat: number;
        let observed = value;
        let low = r.pred - 4 * scale;
        let high = r.pred + 4 * scale;
        switch (def.kind) {
          case "spike": stat = Math.abs(z); break;
          case "shift8": stat = Math.abs(ss.mean8); break;
          case "shift32": stat = Math.abs(ss.mean32); break;
          case "vol-up": stat = ss.abs16; observed = ss.abs16 * scale; low = 0; high = 4 * scale; break;
          case "vol-down":
            stat = Math.max(0, Math.log((scale + floor) / (ss.vol32 + floor)));
            observed = ss.vol32; low = scale / 20; high = Infinity; break;
        }
        stats.push({ def, stat });
        const p = tailProbability(cal, st.calibrators[def.name], stat);
        active++;
        const s = -Math.log(p);
        if (!best || s > best.s) best = { s, p, def, observed, low, high };
      }
      ss.scale = ss.scale === 0 ? Math.abs(r.e) : ss.scale + (Math.abs(r.e) - ss.scale) * A_SCALE;
    }
    for (const { def, stat } of stats) observe(cal, st.calibrators[def.name], stat);

    learnSeason(st.day, timestampMs, value);
    learnSeason(st.week, timestampMs, value);
    st.level = st.n === 0 ? value : st.level + (value - st.level) * A_LEVEL;
    st.prev = value;
    st.n++;

    if (!best || st.n <= warmup) return quiet("warmup");
    const surprise = Math.max(0, best.s - Math.log(active));
    const pValue = Math.min(1, best.p * active);
    const suppressed = surprise <= st.lastSurprise;
    st.lastSurprise = Math.max(surprise, st.lastSurprise * suppressionDecay);
    const out = suppressed ? 0 : surprise;
    return {
      score: 1 - Math.exp(-out / 10),
      explanation: {
        signal: best.def.name,
        observed: best.observed,
        expected: { low: best.low, high: best.high },
        pValue,
        surprise,
        suppressed,
      },
    };
  }

  return {
    update,
    snapshot: () => structuredClone(st) as unknown as UnivariateSnapshot,
    restore(snapshot) {
      if (snapshot?.version !== 1) {
        throw new SnapshotError(`unsupported univariate detector snapshot: expected version 1, got ${String(snapshot?.version)}`);
      }
      st = structuredClone(snapshot) as unknown as State;
    },
  };
}
