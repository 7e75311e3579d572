import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { invalidMessages, validReadings, watermarkFlush } from "../harness/events.ts";
import { publishAll, startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { metricsFor } from "../../actors/runtime/metrics.ts";

const N = 600;
const M = 10;
const test = suite<{ nats: NatsServer; ch: ClickHouseServer; nc: NatsConnection; pipeline: TestPipeline }>("pipeline on clickhouse-server over HTTP");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.ch = await ClickHouseServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { clickhouseUrl: ctx.ch.url, env: { SLUICE_SINK_BATCH_MS: "200" } });
  ctx.nc = await connect({ servers: ctx.nats.url });
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.ch?.stop();
  await ctx.nats?.stop();
});

test("N valid and M invalid events: exactly N rows, M dead letters, windows sum to N (ClickHouse 18.16)", async ({ nc, pipeline }) => {
  const valid = validReadings(N);
  await publishAll(nc, [...valid.slice(0, N / 2), ...invalidMessages(M), ...valid.slice(N / 2)]);
  await publishAll(nc, watermarkFlush(Date.UTC(2026, 10, 27, 11, 0, 0)));
  const events = await waitFor(() => pipeline.scalar("SELECT countIf(position(payload, 'temperature') > 0) FROM sluice.events FINAL"), (n) => n >= N);
  assert.is(events, N);
  assert.is(await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.dead_letters FINAL"), (n) => n >= M), M);
  assert.is(await streamCount(nc, "DLQ"), M);
  const windowed = await waitFor(
    () => pipeline.scalar("SELECT sum(count) FROM sluice.window_aggregates FINAL WHERE kind = 'tumbling' AND metric = 'temperature'"),
    (n) => n >= N,
  );
  assert.is(windowed, N);
  assert.is(await pipeline.scalar("SELECT countIf(length(trace_id) != 32) FROM sluice.events FINAL"), 0);
});

test("ClickHouse down for a while: the sink holds, retries and then stores exactly every event", async ({ nc, ch, pipeline }) => {
  const before = await pipeline.scalar("SELECT count() FROM sluice.events FINAL");
  const retriesBefore = metricsFor("clickhouse-sink-events").batchRetries;
  await ch.kill("SIGKILL");
  const more = validReadings(400, Date.UTC(2026, 10, 27, 12, 0, 0), 7);
  await publishAll(nc, more);
  await waitFor(async () => metricsFor("clickhouse-sink-events").batchRetries - retriesBefore, (n) => n >= 3, 20_000, 100);
  assert.ok(metricsFor("clickhouse-sink-events").batchRetries - retriesBefore >= 3, "the sink kept retrying while ClickHouse was down");
  await ch.restart();
  const after = await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events FINAL"), (n) => n >= before + more.length, 60_000);
  assert.is(after, before + more.length);
  assert.is(await streamCount(nc, "DLQ"), M, "the outage dead-lettered nothing");
});

test.run();
