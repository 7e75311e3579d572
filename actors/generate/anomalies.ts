import type { Rng } from "./random.ts";

export type IotMetric = "temperature" | "humidity" | "pressure" | "battery";

interface EpisodeLabel {
  /** Same for every event of one anomaly episode, e.g. "iot-a17". */
  anomaly_id: string;
  /** Position of this event in its episode, from 0. */
  step: number;
  /** Number of events the episode spans. */
  steps: number;
}

/**
 * Ground truth attached to an injected anomaly, so detectors can be scored later.
 *
 * - `spike`: one reading of `metric` off by `delta`.
 * - `level_shift`: `metric` offset by `delta` for `steps` readings of one sensor.
 * - `stuck`: the sensor repeats `value` (and its other metrics) for `steps` readings.
 * - `amount_outlier`: an amount `factor` times `typical_amount`, the larger of the customer's usual
 *   spend and the usual spend at that kind of merchant.
 * - `geo_jump`: a card-present payment `distance_km` from the customer's home country.
 * - `velocity_burst`: `steps` payments by one customer in a row (small online "card testing" charges).
 * - `volume_burst`: `steps` near-identical posts in a row by one user on a quiet `topic`.
 * - `takeover` (only with `paymentAnomalies: "joint"`): `steps` card-present payments by one
 *   customer at one merchant `distance_km` from home, each amount `amount_z` of the customer's
 *   spreads above their typical spend there, `gap_share` of their usual gap apart: each feature
 *   within what the customer's own payments sometimes do, the three together not.
 */
export type AnomalyLabel =
  | (EpisodeLabel & { kind: "spike"; metric: IotMetric; delta: number })
  | (EpisodeLabel & { kind: "level_shift"; metric: IotMetric; delta: number })
  | (EpisodeLabel & { kind: "stuck"; metric: IotMetric; value: number })
  | (EpisodeLabel & { kind: "amount_outlier"; typical_amount: number; factor: number })
  | (EpisodeLabel & { kind: "geo_jump"; home_country: string; country: string; distance_km: number })
  | (EpisodeLabel & { kind: "velocity_burst" })
  | (EpisodeLabel & { kind: "volume_burst"; topic: string })
  | (EpisodeLabel & { kind: "takeover"; distance_km: number; amount_z: number; gap_share: number });

export type AnomalyKind = AnomalyLabel["kind"];

/** An anomaly kind a model can inject: how often relative to its others, and how many events it spans. */
export interface KindSpec<K extends AnomalyKind> {
  kind: K;
  weight: number;
  minSteps: number;
  maxSteps: number;
}

/**
 * Decides when a source's model starts an anomaly episode, so that the share of labelled events
 * comes out at `rate` although episodes span several events.
 *
 * Each event that is not already part of an episode starts one with probability q; an episode
 * spans μ events on average. In the long run the labelled share is qμ / (qμ + 1 − q); solving
 * that for the requested rate f gives q = f / (μ(1 − f) + f).
 */
export class AnomalyDice<K extends AnomalyKind> {
  readonly #rng: Rng;
  readonly #kinds: readonly KindSpec<K>[];
  readonly #startProbability: number;
  readonly #prefix: string;
  #episodes = 0;

  constructor(rng: Rng, rate: number, kinds: readonly KindSpec<K>[], prefix: string) {
    this.#rng = rng;
    this.#kinds = kinds;
    this.#prefix = prefix;
    const totalWeight = kinds.reduce((sum, k) => sum + k.weight, 0);
    const meanSteps = kinds.reduce((sum, k) => sum + (k.weight / totalWeight) * ((k.minSteps + k.maxSteps) / 2), 0);
    this.#startProbability = rate >= 1 ? 1 : rate / (meanSteps * (1 - rate) + rate);
  }

  /** The anomaly draws' own stream (magnitudes, targets), apart from the baseline's. */
  get rng(): Rng {
    return this.#rng;
  }

  /** For an event outside any episode: the episode it starts, if any. */
  roll(): { kind: K; anomaly_id: string; steps: number } | undefined {
    if (this.#startProbability === 0 || !this.#rng.chance(this.#startProbability)) return undefined;
    const spec = this.#rng.weighted(this.#kinds, this.#kinds.map((k) => k.weight));
    this.#episodes += 1;
    return {
      kind: spec.kind,
      anomaly_id: `${this.#prefix}-a${this.#episodes}`,
      steps: this.#rng.int(spec.minSteps, spec.maxSteps),
    };
  }
}
