import { Buffer } from "node:buffer";
import { DDSketch } from "@datadog/sketches-js";

/**
 * DDSketch (@datadog/sketches-js) with two gaps of the library closed: its `merge` skips the
 * negative-value store (DataDog/sketches-js#22, open), so temperatures below zero would vanish from
 * merged sessions; and `fromProto` rebuilds the index mapping from the encoded gamma, whose last
 * bits differ from a fresh mapping, so a restored engine would report slightly different quantiles
 * than one that never stopped.
 */
export function newSketch(relativeAccuracy: number): DDSketch {
  return new DDSketch({ relativeAccuracy });
}

export function mergeSketch(into: DDSketch, from: DDSketch): void {
  if (from.count === 0) return;
  into.store.merge(from.store);
  into.negativeStore.merge(from.negativeStore);
  into.zeroCount += from.zeroCount;
  into.count += from.count;
}

/** Base64 of the DDSketch protobuf, which other DDSketch implementations can read. */
export function encodeSketch(sketch: DDSketch): string {
  return Buffer.from(sketch.toProto()).toString("base64");
}

export class SketchDecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SketchDecodeError";
  }
}

export function decodeSketch(encoded: string, relativeAccuracy: number): DDSketch {
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
  sketch.store = decoded.store;
  sketch.negativeStore = decoded.negativeStore;
  sketch.zeroCount = decoded.zeroCount;
  sketch.count = decoded.count;
  return sketch;
}

/** The q-quantile, clamped to the exact [min, max] the caller tracks, which the sketch only bounds. */
export function quantile(sketch: DDSketch, q: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, sketch.getValueAtQuantile(q)));
}
