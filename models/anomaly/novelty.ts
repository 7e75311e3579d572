// Novelty of the latest stretch of a series: the distance from the newest subsequence to its
// nearest neighbour among the subsequences still in memory (a left matrix profile, as in discord
// discovery). A spike that has happened before has a close neighbour and scores low; a shape or
// level that memory has never held scores high. This is what makes HTM, contextOSE and ARTime
// stop alerting on recurring "extreme" patterns, which extremeness tests keep flagging.

/** Serializable state of one novelty tracker at one time scale. */
export interface NoveltyState {
  /** Ring buffer of the (downsampled) series. */
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

export function newNovelty(cfg: NoveltyConfig): NoveltyState {
  return { ring: new Array<number>(cfg.capacity + longest(cfg)).fill(0), head: 0, filled: 0, pendingCount: 0, pendingSum: 0 };
}

const longest = (cfg: NoveltyConfig) => cfg.lengths[cfg.lengths.length - 1];

/** The same history, oldest values dropped if it does not fit, in the ring `cfg` needs (a snapshot taken with other lengths). */
export function resizeNovelty(cfg: NoveltyConfig, old: NoveltyState): NoveltyState {
  const s = newNovelty(cfg);
  const oldLen = old.ring.length;
  const kept = Math.min(old.filled, s.ring.length);
  for (let k = 0; k < kept; k++) s.ring[k] = old.ring[(old.head - kept + k + 2 * oldLen) % oldLen];
  s.filled = kept;
  s.head = kept % s.ring.length;
  s.pendingCount = old.pendingCount;
  s.pendingSum = old.pendingSum;
  return s;
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
 */
export function pushNovelty(cfg: NoveltyConfig, s: NoveltyState, x: number): (number | null)[] | null {
  s.pendingSum += x;
  s.pendingCount++;
  if (s.pendingCount < cfg.step) return null;
  const v = s.pendingSum / s.pendingCount;
  s.pendingSum = 0;
  s.pendingCount = 0;
  const len = s.ring.length;
  s.ring[s.head] = v;
  s.head = (s.head + 1) % len;
  if (s.filled < len) s.filled++;
  const lengths = cfg.lengths;
  const longestM = longest(cfg);
  const newest = (s.head - 1 + len) % len;
  const a = new Array<number>(longestM);
  for (let k = 0; k < longestM; k++) a[k] = s.ring[(newest - k + len) % len];
  const best = lengths.map(() => Infinity);
  const last = Math.min(cfg.capacity, s.filled - lengths[0]);
  const hint = s.hint ?? 0;
  if (hint >= lengths[0] && hint <= last) measure(s.ring, a, newest, hint, s.filled, lengths, best);
  let nearest = -1;
  // Where every length fits, the longest's best bounds the candidate. This is the detector's hot
  // loop (a third of detection's CPU), so it repeats `measure` inline: calling `measure` here, with
  // the lengths that fit passed in, ran at 37-53k points/s against 59-62k for this (bench signal,
  // three runs each). Nearer the ends of memory fewer lengths fit and `measure` works out which.
  const inner = Math.min(last, s.filled - longestM);
  for (let back = lengths[0]; back < Math.min(longestM, inner + 1); back++) {
    if (measure(s.ring, a, newest, back, s.filled, lengths, best)) nearest = back;
  }
  const ring = s.ring;
  const top = lengths.length - 1;
  for (let back = longestM; back <= inner; back++) {
    const bound = best[top];
    let d2 = 0;
    let j = 0;
    let at = newest - back;
    if (at < 0) at += len;
    for (let k = 0; k < longestM && d2 < bound; k++) {
      const d = a[k] - ring[at];
      d2 += d * d;
      at = at === 0 ? len - 1 : at - 1;
      if (k + 1 === lengths[j]) {
        if (d2 < best[j]) best[j] = d2;
        j++;
      }
    }
    if (d2 < bound) nearest = back;
  }
  for (let back = Math.max(lengths[0], inner + 1); back <= last; back++) {
    if (measure(s.ring, a, newest, back, s.filled, lengths, best)) nearest = back;
  }
  if (nearest >= 0) s.hint = nearest;
  // A length is judged once it has as many candidates as values (as with one length before).
  return best.map((b, i) => (s.filled - 2 * lengths[i] + 1 < lengths[i] ? null : Math.sqrt(b / lengths[i])));
}

/**
 * Measures the candidate ending `back` values before the newest against the newest pattern `a`,
 * lowering `best` (squared distances, one per length) where it is nearer; true when it lowered
 * the longest length's. Lengths up to min(back, filled - back) fit the candidate.
 */
function measure(ring: number[], a: number[], newest: number, back: number, filled: number, lengths: readonly number[], best: number[]): boolean {
  const len = ring.length;
  const room = Math.min(back, filled - back);
  let top = lengths.length - 1;
  while (lengths[top] > room) top--;
  const m = lengths[top];
  // The bests grow with the length (each candidate's distance does, and a longer length is
  // measured on fewer candidates), so a candidate past its longest fitting length's best is past
  // every best it could lower.
  const bound = best[top];
  let d2 = 0;
  let j = 0;
  let at = (newest - back + len) % len;
  for (let k = 0; k < m && d2 < bound; k++) {
    const d = a[k] - ring[at];
    d2 += d * d;
    at = at === 0 ? len - 1 : at - 1;
    if (k + 1 === lengths[j]) {
      if (d2 < best[j]) best[j] = d2;
      j++;
    }
  }
  return top === lengths.length - 1 && d2 < bound;
}
