import type { Source } from "../../subjects/sources.ts";
import type { PayloadBySource } from "../../subjects/schemas/index.ts";
import type { AnomalyLabel } from "./anomalies.ts";
import { Rng, streamSeed } from "./random.ts";

/** How generated payloads write `ts`: always RFC 3339 UTC, or a per-entity mix of every v1 form. */
export type TimestampMode = "iso" | "mixed";

type TimestampStyle = "iso" | "offset" | "unix" | "unix_ms" | "unix_ns";

/** What every source model is built from. */
export interface ModelSetup {
  seed: number;
  count: number;
  anomalyRate: number;
  timestamps: TimestampMode;
  /** Payment anomaly kinds: the default three, or those plus `takeover` ({@link GeneratorOptions.paymentAnomalies}). */
  paymentAnomalies?: "default" | "joint";
}

/** One event of a source before the generator adds `event_id`. */
export interface Draft<S extends Source> {
  key: string;
  payload: Omit<PayloadBySource[S], "event_id">;
  label?: AnomalyLabel;
}

export interface SourceModel<S extends Source> {
  readonly keys: readonly string[];
  /** Reference entries of the model's own entities, for the enrich stage's bucket (enrich/kinds.ts); derived from the world, no draws. */
  readonly references: ReadonlyArray<{ readonly key: string; readonly fields: Readonly<Record<string, unknown>> }>;
  next(nowMs: number): Draft<S>;
}

/** The three independent random streams of one source: its world, its baseline events, its anomalies. */
export function streamsFor(seed: number, source: Source): { world: Rng; events: Rng; anomalies: Rng } {
  return {
    world: new Rng(streamSeed(seed, `${source}.world`)),
    events: new Rng(streamSeed(seed, `${source}.events`)),
    anomalies: new Rng(streamSeed(seed, `${source}.anomalies`)),
  };
}

/**
 * How one entity (a sensor's firmware, a client app, a payment switch) writes event time. In
 * "mixed" mode entities differ, as real producers do, and cover every form the v1 schemas accept.
 */
export class TimestampWriter {
  readonly #style: TimestampStyle;
  readonly #offsetMinutes: number;

  constructor(mode: TimestampMode, rng: Rng, offsetMinutes: number) {
    const styles: TimestampStyle[] = ["iso", "offset", "unix", "unix_ms", "unix_ns"];
    this.#style = mode === "iso" ? "iso" : rng.weighted(styles, [4, 2, 2, 1, 1]);
    this.#offsetMinutes = offsetMinutes;
  }

  write(ms: number): string | number {
    switch (this.#style) {
      case "iso":
        return new Date(ms).toISOString();
      case "offset":
        return rfc3339WithOffset(ms, this.#offsetMinutes);
      case "unix":
        return Math.floor(ms / 1000);
      case "unix_ms":
        return Math.round(ms);
      case "unix_ns":
        return (BigInt(Math.round(ms)) * 1_000_000n).toString();
    }
  }
}

/** Local time with its UTC offset at second precision, as Go's time.RFC3339 (`nats pub` `{{TimeStamp}}`) prints it. */
function rfc3339WithOffset(ms: number, offsetMinutes: number): string {
  const local = new Date(Math.floor(ms / 1000) * 1000 + offsetMinutes * 60_000).toISOString().slice(0, 19);
  if (offsetMinutes === 0) return `${local}Z`;
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${local}${offsetMinutes < 0 ? "-" : "+"}${hh}:${mm}`;
}

/** A whole-hour UTC offset for a longitude, a fair stand-in for its time zone. */
export const offsetForLongitude = (lon: number): number => Math.round(lon / 15) * 60;

export const DAY_MS = 86_400_000;
