import { Buffer } from "node:buffer";
import { DDSketch } from "@datadog/sketches-js";

type Mapping = DDSketch["mapping"];

/**
 * A DDSketch (relative-accuracy quantiles, mergeable without loss) that keeps only the bins
 * between its smallest and largest key. It maps values to bins with @datadog/sketches-js's own
 * `LogarithmicMapping` and answers `getValueAtQuantile` exactly as that library's DDSketch does,
 * so every quantile is the library's; what differs is the cost. The library's `DenseStore` starts
 * each store with 128 bins and re-centres them by copying as keys arrive, and its quantile walks
 * every bin: for a window of a few dozen values (one sensor's minute) that was most of the
 * window's cost and of its snapshot. Serialises to the standard DDSketch protobuf through the
 * library, so other DDSketch implementations (and snapshots written before) read it.
 *
 * It also closes two gaps of the library: its `merge` skips the negative-value store
 * (DataDog/sketches-js#22, open), which would lose sub-zero temperatures from merged sessions; and
 * its `fromProto` rebuilds the index mapping from the encoded gamma, whose last bits differ from a
 * fresh mapping's, which would make a restored engine report slightly different quantiles.
 */
export class QuantileSketch {
  readonly mapping: Mapping;
  readonly positive = new Bins();
  /** Most metrics never go below zero: created on the first negative value. */
  private negativeBins: Bins | null = null;
  zeroCount = 0;
  count = 0;

  constructor(mapping: Mapping) {
    this.mapping = mapping;
  }

  accept(value: number): void {
    const m = this.mapping;
    if (value > m.minPossible) this.positive.add(m.key(value), 1);
    else if (value < -m.minPossible) this.negative.add(m.key(-value), 1);
    else this.zeroCount += 1;
    this.count += 1;
  }

  get negative(): Bins {
    return (this.negativeBins ??= new Bins());
  }

  get negativeCount(): number {
    return this.negativeBins?.count ?? 0;
  }

  /** The library's DDSketch.getValueAtQuantile, step for step. */
  getValueAtQuantile(q: number): number {
    if (q < 0 || q > 1 || this.count === 0) return NaN;
    const rank = q * (this.count - 1);
    const negatives = this.negativeCount;
    if (rank < negatives) return -this.mapping.value(this.negative.keyAtRank(negatives - rank - 1, false));
    if (rank < this.zeroCount + negatives) return 0;
    return this.mapping.value(this.positive.keyAtRank(rank - this.zeroCount - negatives, true));
  }
}

/** Counts of consecutive keys from `minKey`: the library's DenseStore without its spare bins. */
class Bins {
  minKey = 0;
  counts: number[] = [];
  count = 0;

  add(key: number, weight: number): void {
    const counts = this.counts;
    if (counts.length === 0) {
      this.minKey = key;
      counts.push(weight);
    } else if (key < this.minKey) {
      const grow = this.minKey - key;
      const moved = new Array<number>(grow + counts.length).fill(0);
      for (let i = 0; i < counts.length; i++) moved[grow + i] = counts[i];
      moved[0] = weight;
      this.counts = moved;
      this.minKey = key;
    } else {
      const i = key - this.minKey;
      while (counts.length <= i) counts.push(0);
      counts[i] += weight;
    }
    this.count += weight;
  }

  /** DenseStore.keyAtRank: the first key whose running count passes `rank` (reaches rank + 1 when not `lower`). */
  keyAtRank(rank: number, lower: boolean): number {
    const counts = this.counts;
    let running = 0;
    for (let i = 0; i < counts.length; i++) {
      running += counts[i];
      if ((lower && running > rank) || (!lower && running >= rank + 1)) return i + this.minKey;
    }
    return this.minKey + counts.length - 1;
  }

  merge(from: Bins): void {
    for (let i = 0; i < from.counts.length; i++) if (from.counts[i] !== 0) this.add(from.minKey + i, from.counts[i]);
  }

  /** As a DenseStore's protobuf fields: the bins from the first to the last non-zero one. */
  toStore(store: DDSketch["store"]): void {
    let first = 0;
    let last = this.counts.length - 1;
    while (first <= last && this.counts[first] === 0) first++;
    while (last >= first && this.counts[last] === 0) last--;
    store.bins = this.counts.slice(first, last + 1);
    store.offset = first <= last ? this.minKey + first : 0;
  }

  static fromStore(store: DDSketch["store"]): Bins {
    const bins = new Bins();
    store.bins.forEach((n, i) => {
      if (n !== 0) bins.add(store.offset + i, n);
    });
    return bins;
  }
}

const mappings = new Map<number, Mapping>();

/** One mapping per accuracy, shared: it is immutable, and building one per window costs. */
function mappingFor(relativeAccuracy: number): Mapping {
  let mapping = mappings.get(relativeAccuracy);
  if (!mapping) mappings.set(relativeAccuracy, (mapping = new DDSketch({ relativeAccuracy }).mapping));
  return mapping;
}

export function newSketch(relativeAccuracy: number): QuantileSketch {
  return new QuantileSketch(mappingFor(relativeAccuracy));
}

export function mergeSketch(into: QuantileSketch, from: QuantileSketch): void {
  if (from.count === 0) return;
  into.positive.merge(from.positive);
  if (from.negativeCount > 0) into.negative.merge(from.negative);
  into.zeroCount += from.zeroCount;
  into.count += from.count;
}

/** Base64 of the DDSketch protobuf, which other DDSketch implementations can read. */
export function encodeSketch(sketch: QuantileSketch): string {
  const proto = new DDSketch({ relativeAccuracy: sketch.mapping.relativeAccuracy });
  sketch.positive.toStore(proto.store);
  if (sketch.negativeCount > 0) sketch.negative.toStore(proto.negativeStore);
  proto.zeroCount = sketch.zeroCount;
  return Buffer.from(proto.toProto()).toString("base64");
}

export class SketchDecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SketchDecodeError";
  }
}

export function decodeSketch(encoded: string, relativeAccuracy: number): QuantileSketch {
  let decoded: ReturnType<typeof DDSketch.fromProto>;
  try {
    decoded = DDSketch.fromProto(Buffer.from(encoded, "base64"));
  } catch (cause) {
    throw new SketchDecodeError("snapshot sketch is not a DDSketch protobuf", { cause });
  }
  const sketch = newSketch(relativeAccuracy);
  const expected = sketch.mapping.gamma;
  const got = decoded.mapping.gamma;
  if (Math.abs(got - expected) > 1e-9 * expected) {
    throw new SketchDecodeError(`snapshot sketch has gamma ${got}, expected ${expected} (relative accuracy ${relativeAccuracy})`);
  }
  const positive = Bins.fromStore(decoded.store);
  const negative = Bins.fromStore(decoded.negativeStore);
  sketch.positive.merge(positive);
  if (negative.count > 0) sketch.negative.merge(negative);
  sketch.zeroCount = decoded.zeroCount;
  sketch.count = positive.count + negative.count + decoded.zeroCount;
  return sketch;
}

/** The q-quantile, clamped to the exact [min, max] the caller tracks, which the sketch only bounds. */
export function quantile(sketch: QuantileSketch, q: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, sketch.getValueAtQuantile(q)));
}
