// Stalls under a starved CPU: `sluice up --rate R` (every actor, the API, the generator) as a child
// on a nats-server of ours, first on its own (the baseline) and then next to `--hogs N` busy
// processes imitating a machine shared with other work. Each phase lasts `--seconds`; /metrics is
// read every few seconds for the event loop's delay (otel/event-loop.ts); restarts are the
// supervisor's "crashed" lines in the process's log; throughput is messages validated onto EVENTS. A process-wide stall that makes every broker call of every
// actor time out at once shows as restarts under the hogs (the baseline should have none).
//   npm run bench:stall [-- --rate 2000 --seconds 60 --hogs 1]
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../tests/harness/nats-server.ts";
import type { SluiceProcess } from "../tests/harness/sluice-process.ts";
import { startSluiceUp, stopProcess } from "./sluice-up.ts";
import { isEntryPoint, printSummary, ratio, round, type BenchSummary } from "./report.ts";

const SCRAPE_EVERY_MS = 3_000;
const SCRAPE_TIMEOUT_MS = 20_000;

interface Scrape {
  readonly stalls: number;
  readonly longestStallS: number;
  /** The loop's worst delay over the process's last 10 s window. */
  readonly windowMaxS: number;
}

/**
 * The event loop's figures in a process's Prometheus text; undefined when it did not answer. A
 * sluice from before the event-loop metric reads 0 stalls and delays, so the same bench (restarts,
 * throughput) measures the code before and after a change.
 */
export function parseStallMetrics(text: string): Scrape | undefined {
  if (!/^# TYPE sluice_actor_restarts_total /m.test(text)) return undefined;
  const one = (re: RegExp) => Number(text.match(re)?.[1] ?? 0);
  return {
    stalls: one(/^sluice_event_loop_stalls_total (\S+)$/m),
    longestStallS: one(/^sluice_event_loop_longest_stall_seconds (\S+)$/m),
    windowMaxS: one(/^sluice_event_loop_delay_seconds\{quantile="1"\} (\S+)$/m),
  };
}

interface Phase {
  readonly phase: string;
  readonly hogs: number;
  readonly seconds: number;
  readonly raw_per_s: number;
  readonly events_per_s: number;
  readonly restarts: number;
  readonly restarts_per_min: number;
  readonly restarts_by_actor: Record<string, number>;
  readonly stalls: number;
  readonly max_delay_s: number;
  readonly scrapes_answered: number;
  readonly scrapes: number;
}

function startHogs(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
}

/** Messages on RAW (what the generator stored) and EVENTS (what validate passed on): the server counts them, no SQL through a stalled process. */
async function counts(nc: NatsConnection): Promise<{ raw: number; events: number }> {
  const jsm = await jetstreamManager(nc, { timeout: 60_000 });
  return { raw: (await jsm.streams.info("RAW")).state.messages, events: (await jsm.streams.info("EVENTS")).state.messages };
}

/** The supervisor's restarts so far, per actor, from its "actor <name> crashed: …" log lines. */
function crashesByActor(up: SluiceProcess): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of up.output.matchAll(/actor (\S+) crashed: /g)) out.set(m[1], (out.get(m[1]) ?? 0) + 1);
  return out;
}

async function phase(name: string, hogs: number, seconds: number, up: SluiceProcess, apiUrl: string, nc: NatsConnection, before: Scrape): Promise<{ phase: Phase; last: Scrape }> {
  const children = startHogs(hogs);
  try {
    const atStart = await counts(nc);
    const crashesAtStart = crashesByActor(up);
    const started = Date.now();
    let last = before;
    let maxDelay = 0;
    let scrapes = 0;
    let answered = 0;
    while (Date.now() - started < seconds * 1000) {
      await sleep(Math.min(SCRAPE_EVERY_MS, Math.max(1, seconds * 1000 - (Date.now() - started))));
      scrapes++;
      const text = await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) }).then((r) => r.text()).catch(() => "");
      const s = parseStallMetrics(text);
      if (!s) continue;
      answered++;
      maxDelay = Math.max(maxDelay, s.windowMaxS, s.longestStallS > last.longestStallS ? s.longestStallS : 0);
      last = s;
    }
    const elapsed = (Date.now() - started) / 1000;
    const atEnd = await counts(nc);
    const restartsBy: Record<string, number> = {};
    for (const [actor, n] of crashesByActor(up)) if (n > (crashesAtStart.get(actor) ?? 0)) restartsBy[actor] = n - (crashesAtStart.get(actor) ?? 0);
    const restarts = Object.values(restartsBy).reduce((a, b) => a + b, 0);
    return {
      phase: {
        phase: name, hogs, seconds: round(elapsed, 1), raw_per_s: round((atEnd.raw - atStart.raw) / elapsed), events_per_s: round((atEnd.events - atStart.events) / elapsed), restarts, restarts_per_min: round(restarts / (elapsed / 60), 2), restarts_by_actor: restartsBy,
        stalls: last.stalls - before.stalls, max_delay_s: round(maxDelay, 3), scrapes_answered: answered, scrapes,
      },
      last,
    };
  } finally {
    for (const c of children) c.kill("SIGKILL");
  }
}

export async function main(opts: { rate: number; seconds: number; hogs: number }): Promise<BenchSummary> {
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-bench-stall-"));
  const { process: up, apiUrl } = await startSluiceUp(["--rate", String(opts.rate)], nats.url, stateDir, { SLUICE_LOG_LEVEL: "warn" }).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  const nc = await connect({ servers: nats.url });
  try {
    const first = await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(60_000) }).then((r) => r.text());
    const zero = parseStallMetrics(first);
    if (!zero) throw new Error(`${apiUrl}/metrics is not sluice's: no sluice_actor_restarts_total`);
    if (!/^sluice_event_loop_stalls_total /m.test(first)) console.log("this sluice has no event-loop metric: stalls and delays read 0; restarts and throughput are measured");
    const quiet = await phase("alone", 0, opts.seconds, up, apiUrl, nc, zero);
    const loaded = await phase(`next to ${opts.hogs} CPU hog${opts.hogs === 1 ? "" : "s"}`, opts.hogs, opts.seconds, up, apiUrl, nc, quiet.last);
    if (up.child.exitCode !== null || up.child.signalCode !== null) throw new Error(`sluice up exited (${up.child.exitCode ?? up.child.signalCode}):\n${up.output.slice(-2_000)}`);
    console.log(`sluice up --rate ${opts.rate}, every actor and the API, on a nats-server of its own; ${opts.seconds} s alone, then ${opts.seconds} s next to ${opts.hogs} busy process(es)`);
    console.log("phase                    RAW/s  EVENTS/s   restarts (/min)   loop stalls ≥1 s   max loop delay s   scrapes answered");
    for (const p of [quiet.phase, loaded.phase]) {
      console.log(`${p.phase.padEnd(24)} ${String(p.raw_per_s).padStart(5)} ${String(p.events_per_s).padStart(9)}   ${String(p.restarts).padStart(8)} (${p.restarts_per_min})   ${String(p.stalls).padStart(16)}   ${String(p.max_delay_s).padStart(16)}   ${p.scrapes_answered}/${p.scrapes}`);
    }
    const summary: BenchSummary = {
      name: "stall", rate: opts.rate, hogs: opts.hogs, seconds: opts.seconds,
      restarts_per_min: loaded.phase.restarts_per_min, max_delay_s: loaded.phase.max_delay_s,
      events_per_s: loaded.phase.events_per_s, baseline: quiet.phase.events_per_s, ratio: quiet.phase.events_per_s > 0 ? ratio(loaded.phase.events_per_s, quiet.phase.events_per_s) : 0,
      phases: [quiet.phase, loaded.phase],
    };
    const crashLines = [...new Set(up.output.split("\n").filter((l) => l.includes(" crashed: ")).map((l) => l.replace(/^\S+ /, "").slice(0, 240)))];
    if (crashLines.length) console.log(`restarts logged (distinct):\n  ${crashLines.slice(0, 8).join("\n  ")}`);
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
  const { values } = parseArgs({ options: { rate: { type: "string", default: "2000" }, seconds: { type: "string", default: "60" }, hogs: { type: "string", default: "1" } } });
  await main({ rate: Number(values.rate), seconds: Number(values.seconds), hogs: Number(values.hogs) });
  process.exit(0);
}
