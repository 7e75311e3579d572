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
}

export interface NoveltyConfig {
  /** Raw points per downsampled value. */
  step: number;
  /** Subsequence length, in downsampled values. */
  m: number;
  /** Subsequences kept (ring holds capacity + m values). */
  capacity: number;
}

export function newNovelty(cfg: NoveltyConfig): NoveltyState {
  return { ring: new Array<number>(cfg.capacity + cfg.m).fill(0), head: 0, filled: 0, pendingCount: 0, pendingSum: 0 };
}

/**
 * Folds one raw point in. When a downsampled value completes and enough history exists, returns
 * the RMS Euclidean distance from the newest subsequence to its nearest neighbour (levels
 * included: a level never held before is novel), else null.
 */
export function pushNovelty(cfg: NoveltyConfig, s: NoveltyState, x: number): number | null {
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
  const m = cfg.m;
  // Candidates end at least m values before the newest, so they never overlap it.
  const candidates = s.filled - 2 * m + 1;
  if (candidates < m) return null;
  const at = (back: number) => s.ring[(s.head - 1 - back + 2 * len) % len];
  const a = new Array<number>(m);
  for (let k = 0; k < m; k++) a[k] = at(k);
  let best = Infinity;
  for (let c = 0; c < candidates; c++) {
    const end = m + c;
    let d2 = 0;
    // Early abandoning: most candidates are rejected after a few terms.
    for (let k = 0; k < m && d2 < best; k++) {
      const d = a[k] - at(end + k);
      d2 += d * d;
    }
    if (d2 < best) best = d2;
  }
  return Math.sqrt(best / m);
}
