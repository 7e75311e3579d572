// Runs every tests/**/*.test.ts file in its own process (each starts its own servers and may
// open its own chDB directory, which libchdb allows once per process), then prints one
// closing line: "tests: N passed, N failed, N skipped".
import { spawn } from "node:child_process";
import { readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL(".", import.meta.url).pathname;
const filter = process.argv[2];
// Two at a time. Three took a fresh clone from 18.5 to 13.6 min, but in one of two runs two files
// missed their timing preconditions (a window hand-over within 20 s, ingest during API load).
const concurrency = Number(process.env.SLUICE_TEST_CONCURRENCY ?? 2);

/**
 * The files that take 25 s or more, slowest first (a fresh-clone run): they
 * start first, so the run does not end on one long file alone while the other slot idles. Files
 * not listed follow in name order, so a new file always runs; a listed file that is gone is
 * skipped. Refresh from a full run's "(… 12.3s)" lines when the order has changed a lot, keeping
 * the files that need the machine's spare capacity apart.
 */
const SLOWEST_FIRST: readonly string[] = [
  // Chaos ~225 s; the cluster files ~90–110 and ~75–90 s since their reference runs on one server
  // and the runtime recovers from a lost node in seconds (were 162 and 171 s).
  "chaos/chaos.test.ts",
  "cluster/partition.test.ts",
  // Not at once with both cluster files: they run six nats-servers between them.
  "validate/crash-unbatched.test.ts",
  "cluster/failover.test.ts",
  "validate/crash.test.ts",
  "hostile/dlq.test.ts",
  "cluster/clickhouse-sink.test.ts",
  "cluster/clickhouse-migrations.test.ts",
  "validate/stale-holder.test.ts",
  "validate/batching-switch.test.ts",
  "models/forecast-eval.test.ts",
  // Not beside chaos: both load the 2 cores for minutes, and shutdown's precondition is a pipeline
  // keeping up with 1,000 events/s (next to chaos, its generator's publishes timed out).
  "cli/shutdown.test.ts",
  "bench/memory.test.ts",
  "cluster/clickhouse-pipeline.test.ts",
  // Four 18.16 servers as two shards of two replicas: ~36–44 s.
  "cluster/clickhouse-shards.test.ts",
  "bench/cluster.test.ts",
  "browser/dashboard.test.ts",
  "detect/keyed.test.ts",
  "detect/eval.test.ts",
  // ~30–38 s since it runs 12,000 readings (was 76 s with 30,000).
  "validate/partitions-change.test.ts",
  "windows/crash.test.ts",
  "e2e/crash.test.ts",
  "lake/replay.test.ts",
  "lake/sink.test.ts",
  "lake/s3.test.ts",
  "windows/scaleout.test.ts",
  "e2e/scrape-backlog.test.ts",
  "registry/cli.test.ts",
  "windows/ids.test.ts",
  "cli/sql-owner.test.ts",
  "bench/windows.test.ts",
  "cli/up-auth.test.ts",
  "e2e/identity-time.test.ts",
  "windows/shuffled.test.ts",
  "e2e/pipeline.test.ts",
  "detect/task.test.ts",
  "bench/growth.test.ts",
  // 100 ms sink batches took about a third off the hostile files (were 30 s and 26 s).
  "hostile/values.test.ts",
  "hostile/syntax.test.ts",
  "lake/query.test.ts",
  "jobs/cli.test.ts",
  "fuzz/validate.test.ts",
  "hostile/routing.test.ts",
  "reports/report.test.ts",
  "cli/split.test.ts",
  "cli/wait-for-nats.test.ts",
  "bench/api-load.test.ts",
  "jobs/jobs.test.ts",
  "security/sql-readonly.test.ts",
  "generate/anomalies.test.ts",
  "e2e/server.test.ts",
  "pii/up.test.ts",
  "hostile/limits.test.ts",
  "security/audit.test.ts",
  "e2e/broker-restart.test.ts",
  "windows/group-shards.test.ts",
];

/** `files` with the known-slow ones first, slowest first, then the rest in name order. */
function scheduled(files: readonly string[]): string[] {
  const rank = new Map(SLOWEST_FIRST.map((file, i) => [join(root, file), i] as const));
  const rankOf = (file: string) => rank.get(file) ?? SLOWEST_FIRST.length;
  return [...files].sort((a, b) => rankOf(a) - rankOf(b) || a.localeCompare(b));
}

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith(".test.ts") ? [path] : [];
  }).sort();
}

interface FileResult { file: string; passed: number; failed: number; skipped: number; code: number; seconds: number }

function runFile(file: string): Promise<FileResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", file], {
      env: { ...process.env, FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const timeoutMs = Number(process.env.SLUICE_TEST_FILE_TIMEOUT_MS ?? 300_000);
    const timer = setTimeout(() => {
      out += `\n[runner] killed after ${timeoutMs} ms\n`;
      child.kill("SIGKILL");
    }, timeoutMs);
    // uvu prints its summary last; a process still alive well after it holds open handles (often
    // because a before hook threw: uvu swallows hook errors, reports the file's tests as not
    // passed and prints nothing). Waiting out the file timeout would only cost minutes.
    let lingering: ReturnType<typeof setTimeout> | undefined;
    const watchSummary = () => {
      if (lingering || !/Duration:\s/.test(out)) return;
      lingering = setTimeout(() => {
        out += "\n[runner] killed: still running 20 s after its summary (open handles; if no test failed visibly, a before/after hook threw — uvu does not print hook errors)\n";
        child.kill("SIGKILL");
      }, 20_000);
    };
    child.stdout.on("data", (d) => {
      out += d;
      watchSummary();
    });
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(lingering);
      const num = (label: string) => Number(out.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? 0);
      const total = num("Total");
      const passed = num("Passed");
      const skipped = num("Skipped");
      let failed = total - passed - skipped;
      if (code !== 0 && failed === 0) failed = 1;
      const name = relative(root, file);
      const seconds = (Date.now() - started) / 1000;
      const status = failed > 0 ? "FAIL" : "ok  ";
      process.stdout.write(`${status} ${name} (${passed} passed, ${failed} failed, ${skipped} skipped, ${seconds.toFixed(1)}s)\n`);
      if (failed > 0 || process.env.SLUICE_TEST_VERBOSE) process.stdout.write(out.replace(/^/gm, "    ") + "\n");
      resolve({ file: name, passed, failed, skipped, code: code ?? 1, seconds });
    });
  });
}

// The harness's NATS users' secrets, generated once for the run instead of once per server (see
// tests/harness/test-nats-auth.ts): the test processes inherit the directory through the environment.
const auth = await import("./harness/test-nats-auth.ts");
let sharedSecrets: string | undefined;
if (auth.testNatsAuthOn() && !process.env[auth.TEST_NATS_SECRETS_ENV]) {
  sharedSecrets = auth.generateTestNatsSecrets();
  process.env[auth.TEST_NATS_SECRETS_ENV] = sharedSecrets;
}

const files = findTests(root).filter((f) => !filter || f.includes(filter));
const queue = scheduled(files);
const results: FileResult[] = [];
await Promise.all(Array.from({ length: Math.max(1, concurrency) }, async () => {
  for (let file = queue.shift(); file; file = queue.shift()) results.push(await runFile(file));
}));
const sum = (k: "passed" | "failed" | "skipped") => results.reduce((n, r) => n + r[k], 0);
const passed = sum("passed");
const failed = sum("failed");
const skipped = sum("skipped");
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (sharedSecrets) rmSync(sharedSecrets, { recursive: true, force: true });
process.exit(failed > 0 || passed === 0 ? 1 : 0);
