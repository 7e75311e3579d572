import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/**
 * How late this process runs what it has to run: the event loop's delay. Every broker call, lease
 * and heartbeat of every actor in a process waits on the one loop, so a loop that stalls for
 * seconds (a starved CPU, a long garbage collection, a long synchronous call) delays all of them
 * at once. `/metrics` reports it as:
 *
 * - `sluice_event_loop_delay_seconds{quantile}`: p50, p99 and max over the last full window
 *   ({@link WINDOW_MS}), from `perf_hooks.monitorEventLoopDelay`;
 * - `sluice_event_loop_stalls_total`: how often a probe timer fired {@link STALL_MS} or more late;
 * - `sluice_event_loop_longest_stall_seconds`: the longest such delay since the process started.
 */
export const WINDOW_MS = 10_000;
export const STALL_MS = 1_000;
const PROBE_MS = 100;

export interface EventLoopDelay {
  /** Over the last full window, in ms; undefined before the first window ends or where the runtime has no histogram. */
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly maxMs: number | undefined;
  readonly stalls: number;
  readonly longestStallMs: number;
}

class EventLoopMonitor {
  private readonly histogram: IntervalHistogram | undefined;
  private window: Pick<EventLoopDelay, "p50Ms" | "p99Ms" | "maxMs"> = { p50Ms: undefined, p99Ms: undefined, maxMs: undefined };
  private stalls = 0;
  private longestStallMs = 0;
  private windowMaxProbeMs = 0;
  /** Sum of the probe's lateness: time the loop could run nothing. */
  private lostMs = 0;
  private expected = Date.now() + PROBE_MS;

  constructor() {
    try {
      this.histogram = monitorEventLoopDelay({ resolution: 20 });
      this.histogram.enable();
    } catch {
      // A runtime without the histogram (Deno's perf_hooks shim): the probe timer still measures stalls.
      this.histogram = undefined;
    }
    const probe = setInterval(() => {
      const now = Date.now();
      const lateMs = Math.max(0, now - this.expected);
      this.expected = now + PROBE_MS;
      this.lostMs += lateMs;
      this.windowMaxProbeMs = Math.max(this.windowMaxProbeMs, lateMs);
      if (lateMs >= STALL_MS) {
        this.stalls++;
        this.longestStallMs = Math.max(this.longestStallMs, lateMs);
      }
    }, PROBE_MS);
    probe.unref?.();
    const roll = setInterval(() => this.roll(), WINDOW_MS);
    roll.unref?.();
  }

  private roll(): void {
    const h = this.histogram;
    // The histogram samples at its resolution and can miss most of one long stall; the probe cannot.
    const maxMs = Math.max(h ? h.max / 1e6 : 0, this.windowMaxProbeMs);
    this.window = h && h.count > 0 ? { p50Ms: h.percentile(50) / 1e6, p99Ms: h.percentile(99) / 1e6, maxMs } : { p50Ms: undefined, p99Ms: undefined, maxMs };
    h?.reset();
    this.windowMaxProbeMs = 0;
  }

  read(): EventLoopDelay {
    return { ...this.window, stalls: this.stalls, longestStallMs: this.longestStallMs };
  }

  /** Time lost so far, including the stall in progress that the probe has not seen yet. */
  lost(): number {
    return this.lostMs + Math.max(0, Date.now() - this.expected);
  }
}

let monitor: EventLoopMonitor | undefined;

/**
 * Milliseconds this process's event loop has been unable to run anything since it started
 * measuring (the first call): a clock that only moves while the process stalls. The difference of
 * two readings is how much of the time between them the process lost.
 */
export function loopTimeLostMs(): number {
  monitor ??= new EventLoopMonitor();
  return monitor.lost();
}

/** Starts measuring (once per process; later calls return the same monitor's figures). */
export function eventLoopDelay(): EventLoopDelay {
  monitor ??= new EventLoopMonitor();
  return monitor.read();
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** The event loop's delay as Prometheus text. */
export function eventLoopDelayText(delay: EventLoopDelay = eventLoopDelay()): string {
  const lines = [
    `# HELP sluice_event_loop_delay_seconds How late this process's event loop ran its callbacks, over the last ${WINDOW_MS / 1000} s (every broker call, lease and heartbeat of its actors waits on it).`,
    "# TYPE sluice_event_loop_delay_seconds gauge",
  ];
  for (const [quantile, ms] of [["0.5", delay.p50Ms], ["0.99", delay.p99Ms], ["1", delay.maxMs]] as const) {
    if (ms !== undefined) lines.push(`sluice_event_loop_delay_seconds{quantile="${quantile}"} ${seconds(ms)}`);
  }
  lines.push(
    `# HELP sluice_event_loop_stalls_total Times the event loop was ${STALL_MS / 1000} s or more late (a starved CPU, a long garbage collection, a long synchronous call).`,
    "# TYPE sluice_event_loop_stalls_total counter",
    `sluice_event_loop_stalls_total ${delay.stalls}`,
    "# HELP sluice_event_loop_longest_stall_seconds The longest such stall since the process started.",
    "# TYPE sluice_event_loop_longest_stall_seconds gauge",
    `sluice_event_loop_longest_stall_seconds ${seconds(delay.longestStallMs)}`,
  );
  return lines.join("\n") + "\n";
}
