// Latency from publish to a row visible to SQL, at half the sustained maximum, all actors on.
// In one run, on one pipeline (every actor in this process):
//   1. the sustained maximum: `events` readings published at once, events/s until all are rows;
//   2. then readings published at half that rate for `seconds`, each stamped with its publish time
//      (`sent_ms`, also its event time); `sluice.events` is polled every 50 ms for new rows, and a
//      row's latency is the start of the first query that returned it minus its stamp (so it
//      overstates by at most one poll).
// The bare nats.js loop of baseline.ts is measured in the same run, for the maximum's ratio.
//   npm run bench:latency [-- --events 50000 --seconds 60]
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../tests/harness/pipeline.ts";
import { natsBaseline } from "./baseline.ts";
import { pacedPublish, recentReadings, secondsUntil } from "./load.ts";
import { figure, isEntryPoint, percentile, printSummary, ratio, round, type BenchSummary } from "./report.ts";

const KEYS = 50;
const POLL_MS = 50;

/**
 * Remembers when each row of RAW sequence > `afterSeq` was first seen in `sluice.events`. Only rows
 * past the lowest sequence not yet seen are read, so a poll stays small.
 */
class RowWatch {
  private readonly seen = new Map<number, number>();
  private low: number;
  private readonly afterSeq: number;

  constructor(afterSeq: number) {
    this.afterSeq = afterSeq;
    this.low = afterSeq;
  }

  get count(): number {
    return this.seen.size;
  }

  async poll(p: TestPipeline): Promise<void> {
    const at = Date.now();
    const rs = await p.clickhouse!.client.query({
      query: `SELECT raw_seq, JSONExtractUInt(payload, 'sent_ms') AS sent FROM sluice.events WHERE source = 'iot' AND raw_seq > ${this.low}`,
      format: "JSONEachRow",
    });
    for (const row of (await rs.json()) as Array<{ raw_seq: string | number; sent: string | number }>) {
      const seq = Number(row.raw_seq);
      if (!this.seen.has(seq)) this.seen.set(seq, at - Number(row.sent));
    }
    while (this.seen.has(this.low + 1)) this.low++;
  }

  latenciesMs(): number[] {
    return [...this.seen.values()].sort((a, b) => a - b);
  }

  toString(): string {
    return `${this.seen.size} rows after RAW sequence ${this.afterSeq}`;
  }
}

export async function main(opts: { events: number; seconds: number }): Promise<BenchSummary> {
  const base = await natsBaseline(opts.events);
  const nats = await NatsServer.start();
  const p = await startTestPipeline(nats.url);
  try {
    const nc = await connect({ servers: nats.url });
    const count = () => p.scalar("SELECT count() FROM sluice.events");
    const started = performance.now();
    await publishAll(nc, recentReadings(opts.events, KEYS));
    const maximum = opts.events / await secondsUntil("rows in sluice.events", count, opts.events, started, 600_000);

    const rate = maximum / 2;
    const watch = new RowWatch(opts.events);
    const publisher = pacedPublish(nc, { rate, keys: KEYS, firstSeq: opts.events + 1 });
    const until = Date.now() + opts.seconds * 1000;
    while (Date.now() < until) {
      await watch.poll(p);
      await sleep(POLL_MS);
    }
    const published = await publisher.stop();
    const drainUntil = Date.now() + 120_000;
    while (watch.count < published && Date.now() < drainUntil) {
      await watch.poll(p);
      await sleep(POLL_MS);
    }
    await nc.close();
    if (watch.count < published) throw new Error(`latency: saw ${watch} of ${published} published at ${rate.toFixed(0)}/s`);

    const ms = watch.latenciesMs();
    const [p50, p90, p99] = [0.5, 0.9, 0.99].map((q) => percentile(ms, q));
    console.log(`events: ${opts.events} to find the maximum, then ${published} at half of it for ${opts.seconds} s (${KEYS} sensors, all actors on, one process)`);
    console.log(`baseline  nats.js publish → stream → consume + JSON.parse + ack: ${figure(base)} msgs/s`);
    console.log(`maximum   raw publish → rows in sluice.events:                   ${figure(maximum)} events/s   ratio ${ratio(maximum, base)}`);
    console.log(`latency   publish → row visible to SQL at ${rate.toFixed(0)} events/s: p50 ${figure(p50, 0)} ms  p90 ${figure(p90, 0)} ms  p99 ${figure(p99, 0)} ms  max ${figure(ms[ms.length - 1], 0)} ms  (targets p50 ≤ 500, p99 ≤ 1500; poll ${POLL_MS} ms)`);
    const summary: BenchSummary = {
      name: "latency", events_per_s: round(maximum), baseline: round(base), ratio: ratio(maximum, base),
      rate: round(rate), measured: published, p50_ms: round(p50), p90_ms: round(p90), p99_ms: round(p99), max_ms: round(ms[ms.length - 1]),
    };
    printSummary(summary);
    return summary;
  } finally {
    await p.cleanup();
    await nats.stop();
  }
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { events: { type: "string", default: "50000" }, seconds: { type: "string", default: "60" } } });
  await main({ events: Number(values.events), seconds: Number(values.seconds) });
  process.exit(0);
}
