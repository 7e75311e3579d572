// The per-actor metrics registry is observability (otel/metrics.ts): the API reads it without importing the runtime.
export { metricsFor, allMetrics, judgeStuck, STUCK_AFTER_ACK_WAITS, consumerPosition, type ActorMetrics } from "../../otel/metrics.ts";
