import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import { validReadings } from "../harness/events.ts";
import { waitFor } from "../harness/wait.ts";
import { createApp } from "../../api/app.ts";
import { clickhouseRows, consumerLag, natsPing } from "../../api/deps.ts";
import { allMetrics } from "../../otel/metrics.ts";

// nats-server 2.9.10 (Debian 12's) rescans the message block on every delivery once a filtered
// consumer with a backlog answered one `consumer info`; the cost grows with the subjects in the
// block (a bare nats.js drain of 30,000 messages over 5,000 subjects: 0.9 s without, 3.5 s with an
// info every 100 ms; at 50,000 the info requests themselves timed out). On EVENTS (a few subjects
// per partition) the sink drained 30,000 rows in 3.3-8.9 s before this fix (filter `events.>`, one
// info at start and one per scrape) and in 1.9-8.1 s after it, on a machine shared with other
// runs, so the time bound only catches the collapse the issue saw (~800 messages/s, 37 s here);
// what proves the fix is that the sink's consumer gets no `consumer info` at all.
const EVENTS = 30_000;
const DRAIN_BOUND_MS = 20_000;
const SINK = "clickhouse-sink-events";


const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline?: TestPipeline }>("a /metrics scrape every 100 ms during a backlog");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
});
test.after(async (ctx) => {
  await ctx.pipeline?.cleanup();
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

const pendingOf = (text: string): number | undefined => {
  const m = new RegExp(`^sluice_consumer_pending\\{consumer="${SINK}",stream="EVENTS"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
};

test("does not slow the sink's drain, and the lag gauge falls to 0", async (ctx) => {
  // A backlog on EVENTS: validate runs alone first, the sink starts on a full stream.
  const validate = await startTestPipeline(ctx.nats.url, { actors: ["validate"] });
  try {
    await publishAll(ctx.nc, validReadings(EVENTS));
    const stored = await waitFor(() => streamCount(ctx.nc, "EVENTS"), (n) => n >= EVENTS, 60_000);
    assert.is(stored, EVENTS, "validate stored every event on EVENTS");
  } finally {
    await validate.cleanup();
  }

  // JetStream's API is a subscription like any other: a client subscribed to it sees each request.
  const infos = ctx.nc.subscribe(`$JS.API.CONSUMER.INFO.EVENTS.${SINK}`);
  let infoRequests = 0;
  void (async () => {
    for await (const _ of infos) infoRequests++;
  })();
  await ctx.nc.flush();
  const started = Date.now();
  const pipeline = (ctx.pipeline = await startTestPipeline(ctx.nats.url, { actors: [SINK] }));
  const app = createApp({
    rows: clickhouseRows(() => pipeline.clickhouse!.client),
    pingNats: natsPing(pipeline.nc),
    pingClickHouse: async () => undefined,
    metrics: allMetrics,
    lag: consumerLag(pipeline.nc),
  });
  const seen: number[] = [];
  let scraping = true;
  const scraper = (async () => {
    while (scraping) {
      const value = pendingOf(await (await app.request("/metrics")).text());
      if (value !== undefined) seen.push(value);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    const rows = await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events"), (n) => n >= EVENTS, DRAIN_BOUND_MS, 100);
    const elapsed = Date.now() - started;
    console.log(`scrape-backlog: ${EVENTS} rows in ${elapsed} ms (${Math.round(EVENTS / (elapsed / 1000))} rows/s) with ${seen.length} scrapes`);
    assert.is(rows, EVENTS, `the sink stored every event within ${DRAIN_BOUND_MS} ms of starting on the backlog`);
    const settled = await waitFor(async () => seen[seen.length - 1], (v) => v === 0, 10_000, 100);
    assert.is(settled, 0, "the lag gauge reaches 0 once the backlog is stored");
    assert.ok(seen.some((v) => v > 0), `the lag gauge showed the backlog (${seen.slice(0, 5).join(", ")}…)`);
    await ctx.nc.flush();
    assert.is(infoRequests, 0, `no consumer info on the sink's consumer, at its start or in ${seen.length} scrapes`);
  } finally {
    infos.unsubscribe();
    scraping = false;
    await scraper;
  }
});

test.run();
