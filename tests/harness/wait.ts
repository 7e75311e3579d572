import { setTimeout as sleep } from "node:timers/promises";
import { withDeadline } from "../../nats/deadline.ts";

/** Polls `probe` until `done(value)` or the timeout; returns the last value either way. */
export async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value: T | undefined;
  let ok = false;
  for (;;) {
    try {
      value = await probe();
      ok = done(value);
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    if (ok || Date.now() >= deadline) return value as T;
    await sleep(everyMs);
  }
}

/**
 * A test's own read of the broker (a KV get, a stream read) that checks on the behaviour under
 * test without being part of it: each try gets `timeoutMs` (nats.js' requests time out after its
 * default 5 s, which a loaded 2-core machine running two files at once does reach), and a try that
 * fails is made again, `attempts` in all, before the last error is thrown.
 */
export async function probeRead<T>(what: string, read: () => Promise<T>, opts: { timeoutMs?: number; attempts?: number } = {}): Promise<T> {
  const attempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await withDeadline(read, { what: `${what} (try ${attempt} of ${attempts})`, timeoutMs: opts.timeoutMs ?? 20_000 });
    } catch (err) {
      if (attempt >= attempts) throw err;
      await sleep(250);
    }
  }
}
