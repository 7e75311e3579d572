import { setTimeout as sleep } from "node:timers/promises";
import type { ActorDefinition, ServiceKey } from "./actor.ts";
import { describeError } from "./errors.ts";
import { metricsFor } from "./metrics.ts";
import { runActor, type RuntimeDeps } from "./run.ts";
import { isClusterTransient } from "./transient.ts";

const HEALTHY_AFTER_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;
/**
 * The longest restart delay after a crash on a cluster's passing fault (transient.ts): the next
 * leader is elected within seconds, and an actor still backing off from the election's errors
 * (250 ms doubling to 8 s and more) sat idle well after the cluster served again.
 */
const MAX_TRANSIENT_BACKOFF_MS = 2_000;

/**
 * An actor that owns its consumption loop (the window actor reads ordered consumers from
 * checkpointed positions) and only borrows supervision: `run` until `deps.signal` aborts.
 */
export interface LoopActor {
  readonly name: string;
  /** Process-wide services it takes at start (ActorDefinition.needs). */
  readonly needs?: readonly ServiceKey<unknown>[];
  run(deps: RuntimeDeps): Promise<void>;
}

/**
 * Keeps an actor running: a crash (lost connection, a publish that failed, a bug) restarts it
 * with exponential backoff, reset once it has run for a minute. Returns when `signal` aborts.
 */
export async function supervise(actor: ActorDefinition | LoopActor, deps: RuntimeDeps): Promise<void> {
  let failures = 0;
  while (!deps.signal.aborted) {
    const started = Date.now();
    try {
      await ("run" in actor ? actor.run(deps) : runActor(actor, deps));
      if (deps.signal.aborted) return;
      throw new Error("consumer ended unexpectedly");
    } catch (err) {
      if (deps.signal.aborted) return;
      if (Date.now() - started > HEALTHY_AFTER_MS) failures = 0;
      const delay = Math.min(isClusterTransient(err) ? MAX_TRANSIENT_BACKOFF_MS : MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures++, 10));
      metricsFor(actor.name).restarts++;
      deps.log.error(`actor ${actor.name} crashed: ${withCauses(err)}; restarting in ${delay} ms`);
      await sleep(delay, undefined, { signal: deps.signal }).catch(() => undefined);
    }
  }
}

/** The error and what caused it ("validate task iot failed: <why>"): the top message alone rarely says what to fix. */
function withCauses(err: unknown): string {
  const parts = [describeError(err)];
  const causeOf = (e: unknown): unknown => (e instanceof Error ? e.cause : undefined);
  for (let cause = causeOf(err), depth = 0; cause !== undefined && depth < 4; cause = causeOf(cause), depth++) {
    const message = describeError(cause);
    // Some errors already quote their cause (PublishError): say it once.
    if (!parts.some((p) => p.includes(message))) parts.push(message);
  }
  return parts.join(": ");
}

/** Runs several actors in one process under one signal; resolves when all have stopped. */
export async function superviseAll(actors: readonly (ActorDefinition | LoopActor)[], deps: RuntimeDeps): Promise<void> {
  await Promise.all(actors.map((a) => supervise(a, deps)));
}
