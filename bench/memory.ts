// Memory over time: `sluice up` (every actor, the API and its generator at a steady `rate`) as a
// child on a nats-server of ours, its RSS read from /proc at each mark (default 2 and 10 minutes
// after `sluice up` was started), with the rows stored and the backlog (RAW messages not yet rows) at each mark
// to show the rate was held. The first mark is the baseline; the ratio is last / first (target:
// flat within 10 %, ≤ 400 MB). At each mark RSS is split by who holds it: file-backed pages (the
// code of node and libchdb, shared with other processes), the JS heap (used / reserved), Buffers
// and ArrayBuffers, the embedded engine's tracked memory (its `MemoryTracking`), and the rest
// (malloc of node and its addons, thread stacks) — from the process's own `/metrics`.
// With `--keys N`, `sluice up --no-generate` gets IoT readings from N sensors in turn, published
// here at the same steady rate (the generator's world has a few hundred keys; the target is set
// at 10k).
//   npm run bench:memory [-- --rate 1000 --at 120,600 --keys 10000]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { streamCount } from "../tests/harness/pipeline.ts";
import { scalarOverNats } from "../tests/harness/sluice-process.ts";
import { startSluiceUp, stopProcess } from "./sluice-up.ts";
import { pacedPublish, type PacedPublisher } from "./load.ts";
import type { ProcessMemory } from "../otel/memory.ts";
import { figure, isEntryPoint, printSummary, ratio, round, rssMb, type BenchSummary } from "./report.ts";

/** RSS split by who holds it, MB; zeros where the process did not say (not up yet). */
interface Breakdown {
  readonly file_mb: number;
  readonly heap_used_mb: number;
  readonly heap_total_mb: number;
  readonly array_buffers_mb: number;
  readonly engine_mb: number;
  /** Anonymous memory neither the JS heap, nor Buffers, nor the engine's tracker account for. */
  readonly other_mb: number;
}

interface Mark extends Breakdown {
  readonly at_s: number;
  readonly rss_mb: number;
  readonly rows: number;
  readonly backlog: number;
}

const MB = 1024 * 1024;
const METRICS_TIMEOUT_MS = 30_000;

/** `sluice_process_memory_bytes{kind}` from the process's Prometheus text. */
export function parseProcessMemory(text: string): Partial<Record<keyof ProcessMemory, number>> {
  const out: Partial<Record<keyof ProcessMemory, number>> = {};
  for (const m of text.matchAll(/^sluice_process_memory_bytes\{kind="(\w+)"\} (\d+(?:\.\d+)?)$/gm)) out[m[1] as keyof ProcessMemory] = Number(m[2]);
  return out;
}

async function breakdown(apiUrl: string, engineBytes: number): Promise<Breakdown> {
  // A process too busy to answer within the deadline gives a mark without its breakdown, not a hung bench.
  const text = await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) }).then((r) => r.text()).catch(() => "");
  const p = parseProcessMemory(text);
  const anon = (p.rssAnon ?? 0) / MB;
  const heapTotal = (p.heapTotal ?? 0) / MB;
  const external = (p.external ?? 0) / MB;
  const engine = engineBytes / MB;
  return {
    file_mb: round((p.rssFile ?? 0) / MB), heap_used_mb: round((p.heapUsed ?? 0) / MB), heap_total_mb: round(heapTotal),
    array_buffers_mb: round((p.arrayBuffers ?? 0) / MB), engine_mb: round(engine),
    other_mb: anon > 0 ? round(Math.max(0, anon - heapTotal - external - engine)) : 0,
  };
}

const SAMPLE_MS = 1_000;

export async function main(opts: { rate: number; atSeconds: readonly number[]; keys?: number }): Promise<BenchSummary> {
  const marks = [...opts.atSeconds].sort((a, b) => a - b);
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-bench-memory-"));
  const started = Date.now();
  const args = opts.keys ? ["--no-generate"] : ["--rate", String(opts.rate)];
  const { process: up, apiUrl } = await startSluiceUp(args, nats.url, stateDir, { SLUICE_LOG_LEVEL: "warn" }).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  const nc = await connect({ servers: nats.url });
  const publisher: PacedPublisher | undefined = opts.keys ? pacedPublish(nc, { rate: opts.rate, keys: opts.keys, firstSeq: 1 }) : undefined;
  try {
    const taken: Mark[] = [];
    let peak = 0;
    for (const at of marks) {
      while (Date.now() - started < at * 1000) {
        if (up.child.exitCode !== null || up.child.signalCode !== null) throw new Error(`sluice up exited (${up.child.exitCode ?? up.child.signalCode}) after ${((Date.now() - started) / 1000).toFixed(0)} s:\n${up.output.slice(-2_000)}`);
        peak = Math.max(peak, rssMb(up.child.pid));
        await sleep(Math.min(SAMPLE_MS, Math.max(1, at * 1000 - (Date.now() - started))));
      }
      const rss = rssMb(up.child.pid);
      peak = Math.max(peak, rss);
      // Early marks may come before the embedded engine answers: those count no rows yet.
      const rows = await scalarOverNats(nc, "SELECT count() FROM sluice.events").catch(() => 0);
      const raw = await streamCount(nc, "RAW");
      const engine = await scalarOverNats(nc, "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'").catch(() => 0);
      taken.push({ at_s: round((Date.now() - started) / 1000, 1), rss_mb: round(rss), rows, backlog: raw - rows, ...(await breakdown(apiUrl, engine)) });
    }
    const first = taken[0];
    const last = taken[taken.length - 1];
    const load = opts.keys ? `--no-generate, ${opts.rate} IoT readings/s from ${opts.keys} sensors published by the bench` : `--rate ${opts.rate} (the generator)`;
    console.log(`sluice up ${load}, every actor and the API, on a nats-server of its own; RSS of the sluice up process`);
    console.log("   after s    RSS MB      rows stored   backlog (RAW − rows)   of RSS, MB: code (file)  JS heap used/reserved  Buffers  engine  other");
    for (const m of taken) {
      console.log(`${figure(m.at_s, 10)}  ${figure(m.rss_mb, 8)}  ${figure(m.rows, 15)}  ${figure(m.backlog, 12)}            ${figure(m.file_mb, 20)}  ${figure(m.heap_used_mb, 11)} / ${figure(m.heap_total_mb, 8)}  ${figure(m.array_buffers_mb, 7)}  ${figure(m.engine_mb, 6)}  ${figure(m.other_mb, 5)}`);
    }
    console.log(`growth    RSS last / first: ${ratio(last.rss_mb, first.rss_mb)}  (target ≤ 1.10, and ≤ 400 MB); peak ${figure(peak, 0)} MB`);
    const summary: BenchSummary = {
      name: "memory", rate: opts.rate, keys: opts.keys ?? null, rss_mb: last.rss_mb, baseline: first.rss_mb, ratio: ratio(last.rss_mb, first.rss_mb), peak_mb: round(peak),
      marks: taken.map((m) => ({ ...m })),
    };
    printSummary(summary);
    return summary;
  } finally {
    await publisher?.stop();
    await nc.close();
    await stopProcess(up);
    rmSync(stateDir, { recursive: true, force: true });
    await nats.stop();
  }
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { rate: { type: "string", default: "1000" }, at: { type: "string", default: "120,600" }, keys: { type: "string" } } });
  await main({ rate: Number(values.rate), atSeconds: values.at.split(",").map(Number), keys: values.keys ? Number(values.keys) : undefined });
  process.exit(0);
}
