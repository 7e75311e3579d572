import type { ActorContext, Inbound, Logger, Outbound } from "./actor.ts";
import { isRetryable, type PoisonError } from "./errors.ts";

/** What a handler decided for its batch, applied by the runtime once the handler returns. */
export interface Plan {
  bound: Map<Inbound, Outbound[]>;
  unbound: Outbound[];
  rejected: Map<Inbound, PoisonError>;
  retried: Map<Inbound, Error>;
  held: Map<Inbound, number>;
  release: number | undefined;
}

export function newPlan(): Plan {
  return { bound: new Map(), unbound: [], rejected: new Map(), retried: new Map(), held: new Map(), release: undefined };
}

/** Records `out` as one of `input`'s outputs: both consumption modes publish them before `input` counts as done. */
export function bindOutput(bound: Map<Inbound, Outbound[]>, input: Inbound, out: Outbound): void {
  const list = bound.get(input);
  if (list) list.push(out);
  else bound.set(input, [out]);
}

/** The handler's view of `plan`: every call records a decision, nothing touches the broker. */
export function planContext(plan: Plan, log: Logger): ActorContext {
  return {
    emit: (input, out) => bindOutput(plan.bound, input, out),
    emitUnbound: (out) => void plan.unbound.push(out),
    reject: (input, error) => void plan.rejected.set(input, error),
    retry: (input, error) => void plan.retried.set(input, error),
    hold: (input, until) => void plan.held.set(input, until),
    release: (watermark) => void (plan.release = Math.max(plan.release ?? -Infinity, watermark)),
    log,
  };
}

function mergeInto(target: Plan, part: Plan): void {
  for (const [input, outs] of part.bound) target.bound.set(input, outs);
  target.unbound.push(...part.unbound);
  for (const [input, err] of part.rejected) target.rejected.set(input, err);
  for (const [input, err] of part.retried) target.retried.set(input, err);
  for (const [input, until] of part.held) target.held.set(input, until);
  if (part.release !== undefined) target.release = Math.max(target.release ?? -Infinity, part.release);
}

export interface Isolated {
  /** The decisions of every part of the batch the handler completed. */
  readonly plan: Plan;
  /** Messages the handler threw on even alone, with the error it threw. */
  readonly failed: Map<Inbound, Error>;
  /** The first non-retryable error, also when the batch was empty (a tick). */
  readonly firstError: Error | undefined;
}

/**
 * Runs `handle` over `batch`; when it throws a non-retryable error, splits the batch in halves and
 * runs each again, down to single messages, so one poison message fails alone and the rest of
 * its batch proceeds. A part's decisions count only if the handler completed it. A
 * {@link RetryableError} is thrown at once: the dependency is down for every message alike.
 *
 * Cost: k failing messages in a batch of n take O(k log n) extra handler calls; a handler that
 * fails on everything is called about 2n times. Re-running is only safe for a handler whose
 * decisions depend on the messages it is given, not on what earlier (failed) calls did.
 */
export async function handleIsolating(
  batch: readonly Inbound[],
  handle: (part: readonly Inbound[], ctx: ActorContext) => void | Promise<void>,
  log: Logger,
): Promise<Isolated> {
  const plan = newPlan();
  const failed = new Map<Inbound, Error>();
  let firstError: Error | undefined;
  const run = async (part: readonly Inbound[]): Promise<void> => {
    const attempt = newPlan();
    try {
      await handle(part, planContext(attempt, log));
    } catch (err) {
      if (isRetryable(err)) throw err;
      const error = err instanceof Error ? err : new Error(String(err));
      firstError ??= error;
      if (part.length <= 1) {
        if (part.length === 1) failed.set(part[0], error);
        return;
      }
      const middle = part.length >> 1;
      await run(part.slice(0, middle));
      await run(part.slice(middle));
      return;
    }
    mergeInto(plan, attempt);
  };
  await run(batch);
  return { plan, failed, firstError };
}
