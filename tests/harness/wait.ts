import { setTimeout as sleep } from "node:timers/promises";

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
