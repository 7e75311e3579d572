import type { Source } from "./sources.ts";

/**
 * A validated, normalised event as it travels on the `EVENTS` stream and lands in
 * `sluice.events`. Times are epoch milliseconds (UTC).
 *
 * @example
 * const e: Envelope = {
 *   event_id: "9b2c…", source: "iot", key: "sensor-7", schema_version: 1,
 *   event_time: 1764284400000, ingest_time: 1764284400123,
 *   payload: { sensor_id: "sensor-7", ts: "2025-11-28T00:00:00Z", temperature: 21.4 },
 *   raw_subject: "raw.iot.sensor-7", raw_seq: 42,
 * };
 */
export interface Envelope {
  event_id: string;
  source: Source;
  key: string;
  schema_version: number;
  event_time: number;
  ingest_time: number;
  payload: Record<string, unknown>;
  raw_subject: string;
  raw_seq: number;
}
