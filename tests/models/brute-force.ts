import type { NoveltyConfig } from "../../models/anomaly/novelty.ts";

/**
 * The novelty scan's answer computed the slow way, for tests to compare with: per pattern length m,
 * the RMS distance from the newest m values to their nearest earlier window within `capacity`
 * (null until there is one). `filled` is how many values the scan has seen, capped by its buffer.
 */
export function bruteForceNoveltyDistances(history: readonly number[], cfg: NoveltyConfig, filled: number): Array<number | null> {
  return cfg.lengths.map((m) => {
    if (filled - 2 * m + 1 < m) return null;
    let best = Infinity;
    for (let back = m; back <= Math.min(cfg.capacity, filled - m); back++) {
      let d2 = 0;
      for (let k = 0; k < m; k++) d2 += (history[history.length - 1 - k] - history[history.length - 1 - back - k]) ** 2;
      best = Math.min(best, d2);
    }
    return Math.sqrt(best / m);
  });
}
