import { seconds, STREAMS, type StreamName } from "./catalog.ts";

/**
 * A durable pull consumer as the server sees it (snake_case wire config), plus the stream it
 * reads. Every instance of an actor binds the same durable, so instances share the work.
 */
export interface ConsumerDefinition {
  readonly stream: StreamName;
  readonly durable_name: string;
  readonly filter_subject: string;
  readonly ack_policy: "explicit";
  readonly deliver_policy: "all";
  /** Nanoseconds the server waits for an ack before redelivering. */
  readonly ack_wait: number;
  /** Deliveries before the runtime dead-letters a message (-1: never, the sink waits out outages). */
  readonly max_deliver: number;
  /** Bounds in-flight, unacknowledged messages per consumer: the backpressure limit. */
  readonly max_ack_pending: number;
}

function durable(stream: StreamName, name: string, filter: string, overrides: Partial<ConsumerDefinition> = {}): ConsumerDefinition {
  return {
    stream,
    durable_name: name,
    filter_subject: filter,
    ack_policy: "explicit",
    deliver_policy: "all",
    ack_wait: seconds(30),
    max_deliver: 5,
    max_ack_pending: 5_000,
    ...overrides,
  };
}

/** The server-side settings of a consumer: {@link ConsumerDefinition} without its stream. */
export type ConsumerWireConfig = Omit<ConsumerDefinition, "stream" | "filter_subject"> & { readonly filter_subject?: string };

/**
 * The config sluice sends for `def`: without a filter when the filter selects the whole stream.
 * On nats-server 2.9.10 one `consumer info` on a filtered consumer with a backlog makes the server
 * rescan the message block on every later delivery (fixed in 2.9.15); an unfiltered consumer
 * counts its pending by subtraction and is immune.
 */
export function consumerConfig(def: ConsumerDefinition): ConsumerWireConfig {
  const { stream, filter_subject, ...rest } = def;
  const whole: readonly string[] = STREAMS[stream].subjects;
  return whole.length === 1 && whole[0] === filter_subject ? rest : { ...rest, filter_subject };
}

export const CONSUMERS = {
  sinkEvents: durable("EVENTS", "clickhouse-sink-events", "events.>", { ack_wait: seconds(20), max_deliver: -1, max_ack_pending: 50_000 }),
  sinkDeadLetters: durable("DLQ", "clickhouse-sink-dlq", "dlq.>", { ack_wait: seconds(20), max_deliver: -1, max_ack_pending: 50_000 }),
  sinkWindows: durable("AGG", "clickhouse-sink-agg", "agg.>", { ack_wait: seconds(20), max_deliver: -1, max_ack_pending: 50_000 }),
  sinkDq: durable("DQ", "clickhouse-sink-dq", "dq.>", { ack_wait: seconds(20), max_deliver: -1, max_ack_pending: 50_000 }),
  sinkAnomalies: durable("ALERTS", "clickhouse-sink-anomalies", "alerts.>", { ack_wait: seconds(20), max_deliver: -1, max_ack_pending: 50_000 }),
} as const satisfies Record<string, ConsumerDefinition>;
