/**
 * What a scorer found in one event, before the detect actor names its severity and event.
 *
 * @example
 * const f: Finding = {
 *   key: "sensor-7", metric: "temperature", score: 0.91, signal: "novel-pattern/1",
 *   expected: { low: 18.2, high: 22.9 }, observed: 35.1, explanation: { context: "level", pValue: 1e-5 },
 * };
 */
export interface Finding {
  /** The entity scored: sensor, customer, topic. */
  key: string;
  /** What was scored: a payload field, or a derived feature ("amount", "velocity", "location", "posts_per_minute", "posts_by_author"). */
  metric: string;
  /** In [0, 1]; higher is more anomalous. */
  score: number;
  /** Which signal fired, e.g. "novel-pattern/4", "stuck", "amount-vs-habit". */
  signal: string;
  /** The range the scorer considered normal. */
  expected: { low: number; high: number };
  observed: number;
  /** Signal-specific evidence; stored as JSON with the anomaly. */
  explanation: Record<string, unknown>;
  /** The event this belongs to when it is not the one just observed (a closed minute of posts). */
  event?: { event_id: string; event_time: number; trace_id: string };
}

/**
 * One source's per-key scoring state. `observe` returns every finding whose score reaches the
 * scorer's threshold (it may return weaker ones too; detection drops them): only those can be
 * alerts, and building the others' explanations was most of a payment's scoring.
 * Events usually come in event-time order per key (the detect task's reorder buffer releases them
 * so); one older than the key's newest is judged without corrupting the order-dependent state.
 * With `learn: false` (an event past the allowed lateness) the event is judged and nothing learnt.
 */
export interface Scorer {
  observe(key: string, eventTime: number, payload: Record<string, unknown>, ref: { event_id: string; trace_id: string }, learn: boolean): Finding[];
  /** Keys held now and keys evicted so far. */
  keys(): { held: number; evicted: number };
  snapshot(): unknown;
  restore(snapshot: unknown): void;
}

/** A malformed snapshot was given to `restore`; says which part. */
export class DetectSnapshotError extends Error {
  override name = "DetectSnapshotError";
}

/** What `observe` returns for an event that raised nothing: one shared, frozen empty list. */
export const NOTHING: Finding[] = Object.freeze([]) as unknown as Finding[];
