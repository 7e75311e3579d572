import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * What every benchmark ends with, as one line `BENCH {json}` a script can read: its name, the
 * headline figure, the same-run baseline it is divided by and the ratio, then its own fields.
 *
 * @example
 * printSummary({ name: "pipeline", events_per_s: 6200, baseline: 54000, ratio: 0.115, events: 50000 });
 * // BENCH {"name":"pipeline","events_per_s":6200,"baseline":54000,"ratio":0.115,"events":50000}
 */
export interface BenchSummary {
  readonly name: string;
  readonly [field: string]: string | number | boolean | null | readonly unknown[] | Record<string, unknown>;
}

const PREFIX = "BENCH ";

export function printSummary(summary: BenchSummary): void {
  console.log(`${PREFIX}${JSON.stringify(summary)}`);
}

/** The last `BENCH` line of a benchmark's output. */
export function parseSummary(output: string): BenchSummary | undefined {
  const line = output.split("\n").reverse().find((l) => l.startsWith(PREFIX));
  return line ? (JSON.parse(line.slice(PREFIX.length)) as BenchSummary) : undefined;
}

/** A rate or ratio rounded the way the summaries carry it. */
export const round = (n: number, digits = 0): number => Number(n.toFixed(digits));
export const ratio = (n: number, base: number): number => round(n / base, 3);

/** Whole numbers padded for the printed tables. */
export const figure = (n: number, width = 9): string => n.toFixed(0).padStart(width);

/** Nearest-rank percentile of ascending `sorted` values (q in 0..1). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Resident set size of a process in MB, from /proc (Linux); of this process without a pid. */
export function rssMb(pid?: number): number {
  if (pid === undefined) return process.memoryUsage.rss() / 1024 / 1024;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(status.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for process ${pid}`);
  return kb / 1024;
}

/** The peak of this process's RSS while `work` runs, sampled every `everyMs`. */
export async function withPeakRss<T>(work: () => Promise<T>, everyMs = 200): Promise<{ value: T; peakMb: number }> {
  let peakMb = rssMb();
  const timer = setInterval(() => (peakMb = Math.max(peakMb, rssMb())), everyMs);
  try {
    const value = await work();
    return { value, peakMb: Math.max(peakMb, rssMb()) };
  } finally {
    clearInterval(timer);
  }
}

/** True when the module at `moduleUrl` is the script node was started with (not imported by a test). */
export function isEntryPoint(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === moduleUrl;
}

/**
 * Runs `node --import tsx <script> <args>` and returns its summary line: for measurements that need
 * a process of their own (RSS, one chDB data directory per process). Fails with the child's last
 * output when it exits non-zero or prints no summary.
 */
export function runBenchChild(scriptUrl: string, args: string[], timeoutMs: number, nodeArgs: string[] = []): Promise<BenchSummary> {
  const script = fileURLToPath(scriptUrl);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const summary = parseSummary(output);
      if (code === 0 && summary) resolve(summary);
      else reject(new Error(`${script} ${args.join(" ")} ended with ${code ?? signal}${summary ? "" : ", no summary"}:\n${output.slice(-2_000)}`));
    });
  });
}
