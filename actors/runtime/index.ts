export { defineActor, type ActorContext, type ActorDefinition, type Batching, type Inbound, type Logger, type Outbound } from "./actor.ts";
export { PoisonError, RetryableError, isPoison, isRetryable, describeError } from "./errors.ts";
export { runActor, PublishError, type RuntimeDeps } from "./run.ts";
export { supervise, superviseAll, type LoopActor } from "./supervisor.ts";
export { metricsFor, allMetrics, type ActorMetrics } from "./metrics.ts";
export { createLogger } from "./log.ts";
