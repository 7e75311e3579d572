// Memory over time: `sluice up` (every actor, the API and its generator at a steady `rate`) as a
// child on a nats-server of ours, its RSS read from /proc at each mark (default 2 and 10 minutes
// after `sluice up` was started), with the rows stored and the backlog (RAW messages not yet rows) at each mark
// to show the rate was held. The first mark is the baseline; the ratio is last / first (target:
// flat within 10 %, ≤ 400 MB).
//   npm run bench:memory [-- --rate 1000 --at 120,600]
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
import { figure, isEntryPoint, printSummary, ratio, round, rssMb, type BenchSummary } from "./report.ts";

interface Mark {
  readonly at_s: number;
  readonly rss_mb: number;
  readonly rows: number;
  readonly backlog: number;
}

const SAMPLE_MS = 1_000;

export async function main(opts: { rate: number; atSeconds: readonly number[] }): Promise<BenchSummary> {
  const marks = [...opts.atSeconds].sort((a, b) => a - b);
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-bench-memory-"));
  const started = Date.now();
  const { process: up } = await startSluiceUp(["--rate", String(opts.rate)], nats.url, stateDir, { SLUICE_LOG_LEVEL: "warn" }).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  const nc = await connect({ servers: nats.url });
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
      taken.push({ at_s: round((Date.now() - started) / 1000, 1), rss_mb: round(rss), rows, backlog: raw - rows });
    }
    const first = taken[0];
    const last = taken[taken.length - 1];
    console.log(`sluice up --rate ${opts.rate} (every actor, API, generator) on a nats-server of its own; RSS of the sluice up process`);
    console.log("   after s    RSS MB      rows stored   backlog (RAW − rows)");
    for (const m of taken) console.log(`${figure(m.at_s, 10)}  ${figure(m.rss_mb, 8)}  ${figure(m.rows, 15)}  ${figure(m.backlog, 12)}`);
    console.log(`growth    RSS last / first: ${ratio(last.rss_mb, first.rss_mb)}  (target ≤ 1.10, and ≤ 400 MB); peak ${figure(peak, 0)} MB`);
    const summary: BenchSummary = {
      name: "memory", rate: opts.rate, rss_mb: last.rss_mb, baseline: first.rss_mb, ratio: ratio(last.rss_mb, first.rss_mb), peak_mb: round(peak),
      marks: taken.map((m) => ({ ...m })),
    };
    printSummary(summary);
    return summary;
  } finally {
    await nc.close();
    await stopProcess(up);
    rmSync(stateDir, { recursive: true, force: true });
    await nats.stop();
  }
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { rate: { type: "string", default: "1000" }, at: { type: "string", default: "120,600" } } });
  await main({ rate: Number(values.rate), atSeconds: values.at.split(",").map(Number) });
  process.exit(0);
}
