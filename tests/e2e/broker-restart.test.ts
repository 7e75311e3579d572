import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { validReadings } from "../harness/events.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline }>("broker restart");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { actors: ["validate", "clickhouse-sink-events"], env: { SLUICE_SINK_BATCH_MS: "200" } });
  ctx.nc = await connect({ servers: ctx.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
});

test("nats-server restarts mid-stream: the actors reconnect and every event lands exactly once", async ({ nats, nc, pipeline }) => {
  const first = validReadings(3_000, Date.UTC(2026, 10, 27, 10), 20);
  await publishAll(nc, first);
  await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events"), (n) => n > 0, 30_000, 20);
  await nats.restart(500);
  const second = validReadings(2_000, Date.UTC(2026, 10, 27, 12), 20);
  await waitFor(async () => nc.flush().then(() => true, () => false), Boolean, 20_000, 100);
  await publishAll(nc, second);
  const rows = await waitFor(() => pipeline.scalar("SELECT count() FROM sluice.events FINAL"), (n) => n >= first.length + second.length, 90_000, 500);
  assert.is(rows, first.length + second.length);
});

test.run();
