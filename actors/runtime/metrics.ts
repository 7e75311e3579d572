/** Per-actor counters, read by `/metrics` and by tests. */
export interface ActorMetrics {
  received: number;
  acked: number;
  emitted: number;
  deadLettered: number;
  retried: number;
  batchRetries: number;
  errors: number;
  restarts: number;
  held: number;
  lastBatchAt: number;
}

const registry = new Map<string, ActorMetrics>();

export function metricsFor(actor: string): ActorMetrics {
  let m = registry.get(actor);
  if (!m) {
    m = { received: 0, acked: 0, emitted: 0, deadLettered: 0, retried: 0, batchRetries: 0, errors: 0, restarts: 0, held: 0, lastBatchAt: 0 };
    registry.set(actor, m);
  }
  return m;
}

export function allMetrics(): ReadonlyMap<string, ActorMetrics> {
  return registry;
}
