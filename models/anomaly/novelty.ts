// Novelty of the latest stretch of a series: the distance from the newest subsequence to its
// nearest neighbour among the subsequences still in memory (a left matrix profile, as in discord
// discovery). A spike that has happened before has a close neighbour and scores low; a shape or
// level that memory has never held scores high. This is what makes HTM, contextOSE and ARTime
// stop alerting on recurring "extreme" patterns, which extremeness tests keep flagging.

/** Serializable state of one novelty tracker at one time scale. */
export interface NoveltyState {
  /**
   * Ring buffer of the (downsampled) series, capacity + the longest length values once full.
   * Until then it holds only the values written (head === filled): a key with a few readings
   * keeps a few values, not a thousand zeros. Older snapshots hold the full ring, zero-padded.
   */
  ring: number[];
  /** Index of the next write. */
  head: number;
  /** Values written so far (saturates at the ring length). */
  filled: number;
  /** Points of the raw series folded into the pending downsampled value. */
  pendingCount: number;
  pendingSum: number;
  /**
   * Where the newest pattern's nearest neighbour ended, in values back from it (the longest
   * length's). Its successor is the likeliest neighbour of the next pattern and is measured first,
   * so the scan starts with a tight best and abandons most candidates after a few values. Only a
   * speed hint: the result does not depend on it. Absent in older snapshots.
   */
  hint?: number;
}

export interface NoveltyConfig {
  /** Raw points per downsampled value. */
  step: number;
  /** Subsequence lengths, in downsampled values, ascending; each gets its own distance. */
  lengths: readonly number[];
  /** Subsequences kept (ring holds capacity + the longest length values). */
  capacity: number;
}

export function newNovelty(_cfg: NoveltyConfig): NoveltyState {
  return { ring: [], head: 0, filled: 0, pendingCount: 0, pendingSum: 0 };
}

const longest = (cfg: NoveltyConfig) => cfg.lengths[cfg.lengths.length - 1];
/** Values the full ring holds. */
const ringLength = (cfg: NoveltyConfig) => cfg.capacity + longest(cfg);
/** First size of the growing scan buffers; they double from there up to the full ring. */
const FIRST_ROOM = 16;

/** The same history, oldest values dropped if it does not fit, in the ring `cfg` needs (a snapshot taken with other lengths). */
export function resizeNovelty(cfg: NoveltyConfig, old: NoveltyState): NoveltyState {
  const s = newNovelty(cfg);
  // An unwrapped ring (head === filled) reads the same modulo any length of at least `filled`.
  const oldLen = Math.max(old.ring.length, 1);
  const kept = Math.min(old.filled, ringLength(cfg));
  for (let k = 0; k < kept; k++) s.ring.push(old.ring[(old.head - kept + k + 2 * oldLen) % oldLen]);
  s.filled = kept;
  s.head = kept % ringLength(cfg);
  s.pendingCount = old.pendingCount;
  s.pendingSum = old.pendingSum;
  return s;
}

/**
 * Derived, unserialised companions of a state, rebuilt from it when missing: the ring written
 * twice over (value i at i and i + length) so a pattern reads as one contiguous run, and per
 * candidate lag a lower bound on its squared distance from the last scan. Not in the snapshot.
 *
 * Until the ring wraps, every pattern is already contiguous in it, so the mirror is the ring
 * once (`offset` 0) in a buffer that doubles as values arrive; it is written twice over
 * (`offset` = the ring length) from the first write that wraps. The per-lag bounds grow with
 * the lags that exist. The same values are read in the same order either way.
 */
interface Scan {
  /** The ring twice over (or once, unwrapped); the newest value at `newest + offset`. */
  mirror: Float64Array;
  /** 0 while the ring has not wrapped, else the ring length. */
  offset: number;
  /** The newest pattern, newest value first. */
  pattern: Float64Array;
  /** Per lag (values back from the newest): the squared distance of the candidate's first `terms[lag]` values at the last scan. */
  lower: Float64Array;
  /** Per lag: how many values `lower` covers, or {@link NO_BOUND}. */
  terms: Uint8Array;
  head: number;
  filled: number;
}

const NO_BOUND = 255;
/**
 * A lower bound prunes only when above the best by this factor: the bound and the distance it
 * stands for add the same non-negative squares in a different order, which can differ in the
 * last bits (at most ~16 rounding errors of 1e-16 each), so a pruned candidate is one the full
 * computation would have abandoned too.
 */
const PRUNE_MARGIN = 1 + 1e-12;
const scans = new WeakMap<NoveltyState, Scan>();

/** The scan of `s`, rebuilt when missing or stale; ready for the write at `s.head` (mirrored in full once that write wraps). */
function scanOf(cfg: NoveltyConfig, s: NoveltyState): Scan {
  const len = ringLength(cfg);
  let scan = scans.get(s);
  if (!scan || scan.head !== s.head || scan.filled !== s.filled) {
    if (!(cfg.lengths[0] >= 2 && longest(cfg) < NO_BOUND)) throw new RangeError(`novelty pattern lengths must be 2..${NO_BOUND - 1}, got ${cfg.lengths.join(", ")}`);
    if (s.ring.length !== len && !(s.ring.length >= s.filled && s.head === s.filled)) {
      throw new RangeError(`novelty ring holds ${s.ring.length} values (head ${s.head}, filled ${s.filled}); expected ${len}, or the values written so far`);
    }
    const room = Math.min(len, Math.max(FIRST_ROOM, s.filled + 1));
    const mirror = new Float64Array(room);
    for (let i = 0; i < s.filled; i++) mirror[i] = s.ring[i];
    scan = {
      mirror,
      offset: 0,
      pattern: new Float64Array(longest(cfg)),
      lower: new Float64Array(Math.min(cfg.capacity + 1, room)),
      terms: new Uint8Array(Math.min(cfg.capacity + 1, room)).fill(NO_BOUND),
      head: s.head,
      filled: s.filled,
    };
    scans.set(s, scan);
  }
  if (scan.offset === 0) {
    if (s.filled >= len) {
      // This write wraps: from now on a pattern may straddle the ring's end.
      const mirror = new Float64Array(2 * len);
      for (let i = 0; i < len; i++) mirror[i] = mirror[i + len] = s.ring[i];
      scan.mirror = mirror;
      scan.offset = len;
    } else if (s.head >= scan.mirror.length) {
      const mirror = new Float64Array(Math.min(len, 2 * scan.mirror.length));
      mirror.set(scan.mirror);
      scan.mirror = mirror;
    }
  }
  // Lags up to min(capacity, filled + 1 - shortest) are scanned after this write.
  const lags = Math.min(cfg.capacity, s.filled + 1) + 1;
  if (scan.lower.length < lags) {
    const size = Math.min(cfg.capacity + 1, Math.max(lags, 2 * scan.lower.length));
    const lower = new Float64Array(size);
    lower.set(scan.lower);
    const terms = new Uint8Array(size).fill(NO_BOUND);
    terms.set(scan.terms);
    scan.lower = lower;
    scan.terms = terms;
  }
  return scan;
}

/**
 * Folds one raw point in. When a downsampled value completes and enough history exists, returns
 * for each subsequence length the RMS Euclidean distance from the newest subsequence of that
 * length to its nearest neighbour (levels included: a level never held before is novel), or null
 * for a length whose history is still too short; null when no value completed.
 *
 * Candidates of length m end at least m values before the newest, so they never overlap it. One
 * scan serves every length: a candidate's squared distance over its first m values is a prefix of
 * its distance over more, so the shorter lengths are read off on the way.
 *
 * Exact, and incremental where it can be: the candidate `back` values behind the newest pattern
 * shares all but its newest value with the one `back` behind the previous pattern (both shifted
 * by one), so the partial distance that candidate was abandoned at, plus the new value's square,
 * is a lower bound on the new distance over one more value. While that bound is past the best so
 * far (and covers no more than the shortest length) the candidate is passed over after reading a
 * single value; on noisy series most candidates are, most of the time.
 */
export function pushNovelty(cfg: NoveltyConfig, s: NoveltyState, x: number): (number | null)[] | null {
  s.pendingSum += x;
  s.pendingCount++;
  if (s.pendingCount < cfg.step) return null;
  const v = s.pendingSum / s.pendingCount;
  s.pendingSum = 0;
  s.pendingCount = 0;
  const scan = scanOf(cfg, s);
  const len = ringLength(cfg);
  const m = scan.mirror;
  const offset = scan.offset;
  // While unwrapped the write is at the ring's end (head === filled), and the ring grows by it.
  s.ring[s.head] = v;
  m[s.head] = v;
  if (offset !== 0) m[s.head + offset] = v;
  s.head = (s.head + 1) % len;
  if (s.filled < len) s.filled++;
  scan.head = s.head;
  scan.filled = s.filled;
  const lengths = cfg.lengths;
  const longestM = longest(cfg);
  const newest = (s.head - 1 + len) % len;
  const a = scan.pattern;
  const origin = newest + offset;
  // Before `longestM` values exist the pattern's tail is never read; 0 is what the zero-padded ring held.
  for (let k = 0; k < longestM; k++) a[k] = k <= origin ? m[origin - k] : 0;
  const best = lengths.map(() => Infinity);
  const last = Math.min(cfg.capacity, s.filled - lengths[0]);
  const hint = s.hint ?? 0;
  if (hint >= lengths[0] && hint <= last) measure(m, a, origin, hint, s.filled, lengths, best);
  let nearest = -1;
  // Where every length fits, the longest's best bounds the candidate. This is the detector's hot
  // loop, so it repeats `measure` inline: calling `measure` here, with the lengths that fit passed
  // in, ran at 37-53k points/s against 59-62k for this (bench signal, three runs each). Nearer the
  // ends of memory fewer lengths fit and `measure` works out which.
  const inner = Math.min(last, s.filled - longestM);
  const { lower, terms } = scan;
  const top = lengths.length - 1;
  // An exact repeat of the newest pattern (a flat stretch, a count of zero again) makes every
  // best 0 (the shorter lengths' bests are at most the longest's): no candidate can lower one.
  for (let back = lengths[0]; back < Math.min(longestM, inner + 1) && best[top] !== 0; back++) {
    if (measure(m, a, origin, back, s.filled, lengths, best)) nearest = back;
  }
  const shortest = lengths[0];
  // A bound kept over `pre` values, plus the next value, covers at most the shortest length: a
  // candidate past the longest length's best over that prefix is past every length's best.
  const pre = shortest - 1;
  for (let back = longestM; back <= inner; back++) {
    const bound = best[top];
    if (bound === 0) {
      // The bounds kept per lag describe the last scan; the lags not reached now have none.
      terms.fill(NO_BOUND, back, inner + 1);
      break;
    }
    const at = origin - back;
    const d0 = a[0] - m[at];
    let d2 = d0 * d0;
    const held = terms[back];
    if (held <= pre) {
      const lb = lower[back] + d2;
      if (lb > bound * PRUNE_MARGIN) {
        lower[back] = lb;
        terms[back] = held + 1;
        continue;
      }
    }
    let k = 1;
    for (; k < pre && d2 < bound; k++) {
      const d = a[k] - m[at - k];
      d2 += d * d;
    }
    lower[back] = d2;
    terms[back] = k;
    if (!(d2 < bound)) continue;
    let j = 0;
    for (; k < longestM && d2 < bound; k++) {
      const d = a[k] - m[at - k];
      d2 += d * d;
      if (k + 1 === lengths[j]) {
        if (d2 < best[j]) best[j] = d2;
        j++;
      }
    }
    if (d2 < bound) nearest = back;
  }
  for (let back = Math.max(lengths[0], inner + 1); back <= last; back++) {
    terms[back] = NO_BOUND;
    if (best[top] === 0) continue;
    if (measure(m, a, origin, back, s.filled, lengths, best)) nearest = back;
  }
  if (nearest >= 0) s.hint = nearest;
  // A length is judged once it has as many candidates as values (as with one length before).
  return best.map((b, i) => (s.filled - 2 * lengths[i] + 1 < lengths[i] ? null : Math.sqrt(b / lengths[i])));
}

/**
 * Measures the candidate ending `back` values before the newest against the newest pattern `a`,
 * lowering `best` (squared distances, one per length) where it is nearer; true when it lowered
 * the longest length's. Lengths up to min(back, filled - back) fit the candidate. `origin` is
 * the newest value's index in the mirrored ring.
 */
function measure(m: Float64Array, a: Float64Array, origin: number, back: number, filled: number, lengths: readonly number[], best: number[]): boolean {
  const room = Math.min(back, filled - back);
  let top = lengths.length - 1;
  while (lengths[top] > room) top--;
  const longestFit = lengths[top];
  // The bests grow with the length (each candidate's distance does, and a longer length is
  // measured on fewer candidates), so a candidate past its longest fitting length's best is past
  // every best it could lower.
  const bound = best[top];
  let d2 = 0;
  let j = 0;
  const at = origin - back;
  for (let k = 0; k < longestFit && d2 < bound; k++) {
    const d = a[k] - m[at - k];
    d2 += d * d;
    if (k + 1 === lengths[j]) {
      if (d2 < best[j]) best[j] = d2;
      j++;
    }
  }
  return top === lengths.length - 1 && d2 < bound;
}
