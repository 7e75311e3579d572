// Deterministic synthetic series for the model tests: a seeded generator, so a failure replays.

/** mulberry32 uniform generator in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draw (Box-Muller). */
export function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
}

export const T0 = Date.UTC(2024, 0, 1);
export const FIVE_MIN = 300_000;
export const PER_DAY = 288;

/** A daily sine (amplitude 20 around 50) with unit Gaussian noise, 5-minute points. */
export function seasonalSeries(seed: number, days: number, inject?: (i: number, v: number, random: () => number) => number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: days * PER_DAY }, (_, i) => {
    const v = 50 + 20 * Math.sin((2 * Math.PI * i) / PER_DAY) + gaussian(random);
    return inject ? inject(i, v, random) : v;
  });
}
