/**
 * Every await on the broker (KV, object store, consumer info, publish) goes through
 * {@link withDeadline}: a call that never returns (a server gone mid-request, a KV `keys()` whose
 * pull is never answered) must not hang the loop that made it, and an abort must end the wait.
 */

import { setMaxListeners } from "node:events";
import { loopTimeLostMs } from "../otel/event-loop.ts";

/** A broker call did not answer in time; retry it (the loop, or the supervisor, decides when). */
export class BrokerTimeoutError extends Error {
  readonly what: string;
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number) {
    super(`${what}: no answer from NATS within ${timeoutMs} ms (is the server up and reachable?)`);
    // Classified as retryable by the runtime (errors are matched by name, see subjects/errors.ts).
    this.name = "RetryableError";
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
  /** The runtime's retry delay for a retryable error. */
  get delayMs(): number {
    return 1_000;
  }
}

/** The wait ended because the caller's signal aborted. */
export class AbortedError extends Error {
  constructor(what: string) {
    super(`${what}: aborted`);
    this.name = "AbortError";
  }
}

export const DEFAULT_BROKER_TIMEOUT_MS = 5_000;

/**
 * The request timeout to give nats.js's JetStream, KV and object-store clients where every call
 * goes through {@link withDeadline}. nats.js times a request with a plain timer: after the process
 * stalled past it (a long GC, a starved CPU), that timer fires before the event loop reads the
 * answer already in the socket, and the call fails although the broker answered in time (every
 * keyed actor of `sluice up --rate 2000` on a loaded machine failed at once that way). With this
 * far longer than any deadline, the deadline decides, and it reads the socket first.
 */
export const NATS_CLIENT_TIMEOUT_MS = 120_000;

/**
 * A call during which the process itself stalled this long (the event loop ran nothing: a starved
 * CPU, a long garbage collection) was not waiting on the broker all that time: its request may not
 * even have left, or its answer sat unread. Its deadline is extended by the time lost (at most
 * {@link MAX_STALL_EXTENSIONS} times), so a deadline measures the broker, not the process.
 */
export const STALL_LATENESS_MS = 1_000;
export const MAX_STALL_EXTENSIONS = 3;

const widened = new WeakSet<AbortSignal>();
/**
 * Every task of a keyed actor waits on the actor's one signal, so more than Node's default of 10
 * listeners is normal there (each is removed when its call settles) and not the leak the warning
 * is about.
 */
function allowManyWaiters(signal: AbortSignal): void {
  if (widened.has(signal)) return;
  widened.add(signal);
  setMaxListeners(0, signal);
}

export interface DeadlineOptions {
  /** Named in the error, e.g. "kv sluice-window-members keys". */
  readonly what: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Resolves with `work`'s value, or rejects with {@link BrokerTimeoutError} after `timeoutMs`, or
 * with {@link AbortedError} when `signal` aborts — whichever comes first. `work` itself is not
 * cancelled (nats.js has no cancellation for most calls); its late result is ignored.
 */
export function withDeadline<T>(work: Promise<T> | (() => Promise<T>), opts: DeadlineOptions): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_BROKER_TIMEOUT_MS;
  const { signal, what } = opts;
  if (signal?.aborted) {
    // A promise already started may still reject; nobody awaits it now.
    if (typeof work !== "function") work.catch(() => undefined);
    return Promise.reject(new AbortedError(what));
  }
  const promise = typeof work === "function" ? work() : work;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let extensions = 0;
    let timer: ReturnType<typeof setTimeout>;
    // Timers run before the event loop reads the socket: after the process was busy past the
    // deadline (a batch handled, a loaded machine), an answer that came in time may still be
    // unread. setImmediate runs after the next read, so only a call really unanswered times out.
    const arm = (ms: number) => {
      const lostBefore = loopTimeLostMs();
      timer = setTimeout(() => {
        const lost = loopTimeLostMs() - lostBefore;
        if (lost >= STALL_LATENESS_MS && extensions < MAX_STALL_EXTENSIONS) {
          extensions++;
          arm(Math.min(lost, timeoutMs));
          return;
        }
        setImmediate(() => {
          if (settled) return;
          cleanup();
          reject(new BrokerTimeoutError(what, timeoutMs));
        });
      }, ms);
    };
    arm(timeoutMs);
    const onAbort = () => {
      cleanup();
      reject(new AbortedError(what));
    };
    const cleanup = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    if (signal) {
      allowManyWaiters(signal);
      signal.addEventListener("abort", onAbort, { once: true });
    }
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (err: unknown) => {
        cleanup();
        reject(err);
      },
    );
  });
}

/** Collects an async iterator (KV `keys()`, object-store `list()`) under one deadline. */
export async function collect<T>(iterable: Promise<AsyncIterable<T>> | AsyncIterable<T>, opts: DeadlineOptions): Promise<T[]> {
  return withDeadline(async () => {
    const out: T[] = [];
    for await (const item of await iterable) out.push(item);
    return out;
  }, opts);
}
