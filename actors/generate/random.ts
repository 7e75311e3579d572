import { Faker, base, en, generateMersenne53Randomizer, type Randomizer } from "@faker-js/faker";

/**
 * A 32-bit seed for one named stream of a generator. Each concern (world building, each source's
 * events, anomalies, the source mix) draws from its own stream, so changing one option (say the
 * anomaly rate) leaves the draws of the others, and so the baseline data, untouched.
 *
 * @example
 * streamSeed(42, "iot.world") === streamSeed(42, "iot.world") // true
 */
export function streamSeed(seed: number, name: string): number {
  let hash = 0x811c9dc5;
  for (const char of `${seed}/${name}`) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193);
  }
  // Murmur3's finaliser: FNV alone leaves neighbouring names with correlated low bits.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * A seeded random source: a faker instance (names, e-mails, phrases) and the numeric draws the
 * behaviour models need, all from one Mersenne Twister, so a seed fixes every value.
 */
export class Rng {
  readonly faker: Faker;
  readonly #randomizer: Randomizer;

  constructor(seed: number) {
    this.#randomizer = generateMersenne53Randomizer(seed);
    this.faker = new Faker({ locale: [en, base], randomizer: this.#randomizer });
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.#randomizer.next();
  }

  uniform(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  sign(): 1 | -1 {
    return this.float() < 0.5 ? -1 : 1;
  }

  /** Normal draw (Box-Muller). */
  normal(mean = 0, sd = 1): number {
    const u = 1 - this.float();
    const v = this.float();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal draw given its median and the sd of its logarithm. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(this.normal(0, sigma));
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)];
  }

  /** Index drawn with probability proportional to `weights[i]` (non-negative, not all zero). */
  weightedIndex(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let target = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      target -= weights[i];
      if (target < 0) return i;
    }
    return weights.length - 1;
  }

  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    return items[this.weightedIndex(weights)];
  }
}

/**
 * A NATS subject token from free text: lower case letters, digits, `-` and `_` only.
 *
 * @example
 * safeToken("New Braunfels") // "new-braunfels"
 * safeToken("Citroën") // "citroen"
 */
export function safeToken(text: string): string {
  const token = text
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  return token || "x";
}

/** `make()` until it returns a token not yet in `taken`, suffixing a counter if it keeps colliding. */
export function uniqueToken(taken: Set<string>, make: () => string): string {
  let token = safeToken(make());
  for (let attempt = 2; taken.has(token); attempt++) token = `${safeToken(make())}-${attempt}`;
  taken.add(token);
  return token;
}

export const round = (value: number, digits: number): number => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};

export const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));
