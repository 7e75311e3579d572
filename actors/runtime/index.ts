export { defineActor, type ActorContext, type ActorDefinition, type Batching, type Inbound, type Logger, type Outbound } from "./actor.ts";
export { PoisonError, RetryableError, isPoison, isRetryable, describeError } from "./errors.ts";
export { runActor, PublishError, type RuntimeDeps } from "./run.ts";
export { supervise, superviseAll, type LoopActor } from "./supervisor.ts";
export { metricsFor, allMetrics, judgeStuck, STUCK_AFTER_ACK_WAITS, type ActorMetrics } from "./metrics.ts";
export { buildDeadLetter, deadLetterMsgId, LastErrors, type FailedMessage } from "./dead-letter.ts";
export { handleIsolating, newPlan, planContext, type Isolated, type Plan } from "./plan.ts";
export { track, type Tracked } from "./spans.ts";
export { createLogger } from "./log.ts";
