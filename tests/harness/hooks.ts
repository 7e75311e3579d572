import type { Callback, Test } from "uvu";

/** A test that did not run because its suite's before hook threw (that error is printed once, above). */
export class BeforeHookFailedError extends Error {
  readonly suiteName: string;
  readonly hookError: unknown;
  constructor(suiteName: string, hookError: unknown) {
    super(`not run: the before hook of "${suiteName}" threw (printed above): ${firstLine(hookError)}`);
    this.name = "BeforeHookFailedError";
    this.suiteName = suiteName;
    this.hookError = hookError;
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).split("\n")[0];
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause === undefined ? "" : `\ncaused by: ${describe(err.cause)}`;
  return `${err.stack ?? `${err.name}: ${err.message}`}${cause}`;
}

/**
 * `test` with before hooks whose errors show. uvu 0.5 runs a suite's after hooks in a `finally`
 * that returns, so an error thrown by a before hook is dropped: the file prints "(0 / N)" and no
 * error, and run alone it exits 0 (the chaos test's faulted set-up failed that way, unexplained).
 * Here a before hook that throws prints its error with its stack and cause, the later before
 * hooks are skipped, and every test fails naming it — so uvu reports each one and exits 1.
 */
export function surfaceHookErrors<T>(test: Test<T>, suiteName: string): Test<T> {
  let failure: { err: unknown } | undefined;
  const guard = (fn: Callback<T>): Callback<T> => async (ctx) => {
    if (failure) throw new BeforeHookFailedError(suiteName, failure.err);
    await fn(ctx);
  };
  const before = Object.assign(
    (hook: Callback<T>) => test.before(async (ctx) => {
      if (failure) return;
      try {
        await hook(ctx);
      } catch (err) {
        failure = { err };
        console.error(`\n[${suiteName}] before hook failed:\n${describe(err)}\n`);
      }
    }),
    { each: (hook: Callback<T>) => test.before.each(guard(hook)) },
  );
  return Object.assign((name: string, fn: Callback<T>) => test(name, guard(fn)), {
    only: (name: string, fn: Callback<T>) => test.only(name, guard(fn)),
    skip: test.skip,
    before,
    after: test.after,
    run: test.run,
  });
}
