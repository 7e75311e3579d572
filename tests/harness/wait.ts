import { setTimeout as sleep } from "node:timers/promises";

/** Polls `probe` until `done(value)` or the timeout; returns the last value either way. */
export async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await sleep(everyMs);
    value = await probe().catch(() => value);
  }
  return value;
}
