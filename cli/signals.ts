import { stopReconnecting } from "../nats/connect.ts";

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const on = (signal: NodeJS.Signals) => {
      if (seen) process.exit(EXIT_INTERRUPTED);
      seen = true;
      stopReconnecting();
      resolve(signal);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

/** Exit code of a stop that overran its deadline. */
export const EXIT_SHUTDOWN_TIMEOUT = 1;
/** Exit code of a second Ctrl-C (128 + SIGINT, what a shell reports for an interrupted command). */
export const EXIT_INTERRUPTED = 130;

export interface Shutdown {
  /** Aborts on the first SIGINT or SIGTERM (or {@link Shutdown.request}). */
  readonly signal: AbortSignal;
  /** Resolves with what asked for the stop. */
  readonly requested: Promise<string>;
  /** Asks for a stop from inside the process (e.g. the parent process went away). */
  request(reason: string): void;
  /** Runs one stop step under its name, so an overrun can say what was still running; `detail` adds e.g. the actors left. */
  step<T>(name: string, work: () => Promise<T>, detail?: () => string[]): Promise<T>;
  /** Runs synchronously right before a forced exit (deadline, second signal): kill what must not outlive us. */
  onForcedExit(hook: () => void): void;
}

/**
 * The stop of a long-running command. The first SIGINT/SIGTERM aborts {@link Shutdown.signal}
 * and stops every NATS reconnect; after `deadlineMs` the process logs what was still running and
 * exits 1; a second signal exits 130 at once. Both forced exits run the `onForcedExit` hooks first.
 * Install it before anything that can wait (connecting, opening ClickHouse), so Ctrl-C always works.
 */
export function handleShutdown(opts: { deadlineMs: number; log: { info(m: string): void; error(m: string): void } }): Shutdown {
  const controller = new AbortController();
  const steps = new Map<number, { name: string; detail?: () => string[] }>();
  const hooks: Array<() => void> = [];
  let nextStep = 0;
  let resolveRequested!: (reason: string) => void;
  const requested = new Promise<string>((r) => (resolveRequested = r));

  const forcedExit = (code: number, why: string) => {
    opts.log.error(why);
    for (const hook of hooks) {
      try {
        hook();
      } catch {
        // The exit is what matters now.
      }
    }
    process.exit(code);
  };
  const request = (reason: string) => {
    if (controller.signal.aborted) return;
    controller.abort();
    stopReconnecting();
    resolveRequested(reason);
    setTimeout(() => {
      const still = [...steps.values()].map((s) => {
        const detail = s.detail?.() ?? [];
        return detail.length ? `${s.name} (${detail.join(", ")})` : s.name;
      });
      forcedExit(EXIT_SHUTDOWN_TIMEOUT, `stop did not finish within ${opts.deadlineMs} ms (SLUICE_SHUTDOWN_TIMEOUT_MS); still running: ${still.join("; ") || "nothing named"}; exiting with code ${EXIT_SHUTDOWN_TIMEOUT}`);
    }, opts.deadlineMs);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) forcedExit(EXIT_INTERRUPTED, `second ${signal}: exiting now`);
    else request(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  return {
    signal: controller.signal,
    requested,
    request,
    async step(name, work, detail) {
      const id = nextStep++;
      steps.set(id, { name, detail });
      try {
        return await work();
      } finally {
        steps.delete(id);
      }
    },
    onForcedExit(hook) {
      hooks.push(hook);
    },
  };
}

/** Spans are worth less than a stop that keeps its deadline: an unreachable collector gets two seconds. */
const TELEMETRY_FLUSH_MS = 2_000;

export async function flushTelemetry(telemetry: { shutdown(): Promise<void> }, log: { warn(m: string): void }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(() => {
    log.warn(`telemetry: spans not flushed within ${TELEMETRY_FLUSH_MS} ms (is the OTLP collector reachable?); dropping them`);
    resolve();
  }, TELEMETRY_FLUSH_MS)));
  await Promise.race([telemetry.shutdown().catch((e: Error) => log.warn(`telemetry: ${e.message}`)), late]);
  clearTimeout(timer);
}
