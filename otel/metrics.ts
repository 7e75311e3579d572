/** Per-actor counters and gauges, read by `/metrics`, `/readyz` and by tests; summed over the actor's instances in this process. */
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
  /** Messages handed to the handler and not yet acked, nak'ed, dead-lettered or held. */
  inFlight: number;
  /** Messages in the stream not yet delivered to the consumer, as of the last delivery (`msg.info.pending`). */
  pending: number;
  /** Last time the actor acked or dead-lettered a message, or had no work; epoch ms. */
  lastProgressAt: number;
  /** No progress for this long while there is work means stuck: {@link STUCK_AFTER_ACK_WAITS} × ack_wait. */
  stuckAfterMs: number;
  /** 1 while the actor has work and made no progress for `stuckAfterMs`, else 0. */
  stuck: number;
}

/** A consumer that has work and acks nothing for this many ack_wait periods is reported stuck. */
export const STUCK_AFTER_ACK_WAITS = 3;

const registry = new Map<string, ActorMetrics>();

export function metricsFor(actor: string): ActorMetrics {
  let m = registry.get(actor);
  if (!m) {
    m = {
      received: 0, acked: 0, emitted: 0, deadLettered: 0, retried: 0, batchRetries: 0, errors: 0, restarts: 0, held: 0, lastBatchAt: 0,
      inFlight: 0, pending: 0, lastProgressAt: 0, stuckAfterMs: 0, stuck: 0,
    };
    registry.set(actor, m);
  }
  return m;
}

export function allMetrics(): ReadonlyMap<string, ActorMetrics> {
  return registry;
}

/**
 * Work is messages in hand or waiting in the stream. Held messages alone are not: they wait for a
 * watermark, and once they fill max_ack_pending the stream's pending shows it. Judged from what
 * the runtime sees, never from `consumer info` (on nats-server 2.9 that rescans a filtered
 * consumer's backlog). Idle time counts as progress, so work arriving after a quiet hour is not
 * stuck at once.
 */
export function judgeStuck(m: ActorMetrics, nowMs: number): void {
  const hasWork = m.pending > 0 || m.inFlight > 0;
  if (!hasWork || m.lastProgressAt === 0) {
    m.lastProgressAt = nowMs;
    m.stuck = 0;
    return;
  }
  m.stuck = m.stuckAfterMs > 0 && nowMs - m.lastProgressAt > m.stuckAfterMs ? 1 : 0;
}

/**
 * Where a durable consumer read in this process stands, from what its deliveries carry; lag for
 * `/metrics` is computed from it and the stream's last sequence, never from `consumer info`.
 */
export interface ConsumerPosition {
  readonly actor: string;
  readonly stream: string;
  readonly consumer: string;
  /** The consumer reads the whole stream, so its lag is the stream's last sequence minus {@link deliveredSeq}. */
  readonly wholeStream: boolean;
  /** Highest stream sequence the consumer has delivered; -1 until the actor has its consumer (then the server's delivered position). */
  deliveredSeq: number;
  /** num_pending as of the last delivery (for a filtered consumer, whose lag subtraction cannot give). */
  pending: number;
}

const positions = new Map<string, ConsumerPosition>();

/** The position of `stream`/`consumer`, shared by every instance of its actor in this process; registered when the actor starts. */
export function consumerPosition(init: Omit<ConsumerPosition, "deliveredSeq" | "pending">): ConsumerPosition {
  const key = `${init.stream}/${init.consumer}`;
  let p = positions.get(key);
  if (!p) positions.set(key, (p = { ...init, deliveredSeq: -1, pending: 0 }));
  return p;
}

export function allConsumerPositions(): ReadonlyMap<string, ConsumerPosition> {
  return positions;
}
