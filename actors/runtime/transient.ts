import { setTimeout as sleep } from "node:timers/promises";
import { withDeadline } from "../../nats/deadline.ts";

/**
 * Errors that mean "the cluster is between leaders", not "something is wrong": a node lost or cut
 * off, an election under way, a client moving to another server. They pass within seconds of the
 * election, so whoever waits on them retries soon rather than backing off towards half a minute.
 */

/** JetStream's code for "JetStream system temporarily unavailable" (no meta or stream leader yet). */
const JS_TEMPORARILY_UNAVAILABLE = 10008;
const NAMES = new Set(["NoResponders", "JetStreamNotEnabled", "TimeoutError", "ConnectionError", "ClosedConnectionError", "DisconnectError"]);
const MESSAGES = /no responders|jetstream is not enabled|temporarily unavailable|no answer from NATS|no suitable peers|leader not known|publisher closed with publishes in flight/i;

/** Whether `err`, or what caused it, is one of the cluster's passing faults. */
export function isClusterTransient(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 6; e = e.cause, depth++) {
    const coded = e as Error & { code?: number; api_error?: { err_code?: number } };
    if (NAMES.has(e.name) || MESSAGES.test(e.message)) return true;
    if (coded.code === 503 || coded.code === JS_TEMPORARILY_UNAVAILABLE || coded.api_error?.err_code === JS_TEMPORARILY_UNAVAILABLE) return true;
  }
  return false;
}

/**
 * A read (nothing it does needs undoing when it is made twice) tried once per entry of
 * `attemptsMs`, each under that deadline, again after a cluster's passing fault: a request sent
 * to a leader that just died is never answered, and waiting out one long deadline for it kept a
 * task from restoring for 30 s after the election was over. Other errors, and the last one, are thrown.
 */
export async function readRetrying<T>(read: () => Promise<T>, opts: { what: string; attemptsMs: readonly number[]; signal?: AbortSignal }): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await withDeadline(read, { what: opts.what, timeoutMs: opts.attemptsMs[i], signal: opts.signal });
    } catch (err) {
      if (i + 1 >= opts.attemptsMs.length || opts.signal?.aborted || !isClusterTransient(err)) throw err;
      await sleep(RETRY_PAUSE_MS, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }
}

const RETRY_PAUSE_MS = 250;

/**
 * A publish answered "no stream answered" (503: no responders) was not stored: while a stream
 * elects its next leader nobody listens on its subjects for a moment. Sent again (same
 * `Nats-Msg-Id`, same expected sequence) for up to about {@link NO_STREAM_RETRY_MS}, instead of
 * failing the task and replaying it from its checkpoint.
 */
export async function publishThroughElection<T>(publish: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const until = Date.now() + NO_STREAM_RETRY_MS;
  for (let pause = RETRY_PAUSE_MS; ; pause = Math.min(pause * 2, 1_000)) {
    try {
      return await publish();
    } catch (err) {
      const e = err as { name?: string; code?: number };
      if (e?.name !== "PublishRefusedError" || e.code !== 503 || Date.now() + pause > until || signal?.aborted) throw err;
      await sleep(pause, undefined, { signal }).catch(() => undefined);
    }
  }
}

const NO_STREAM_RETRY_MS = 8_000;
