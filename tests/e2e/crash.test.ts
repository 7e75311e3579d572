import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { validReadings } from "../harness/events.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { scalarOverNats, SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";

const N = 20_000;
const test = suite<{ nats: NatsServer; nc: NatsConnection; validate: TestPipeline; stateDir: string }>("sink killed with SIGKILL");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.validate = await startTestPipeline(ctx.nats.url, { actors: ["validate"] });
  ctx.stateDir = mkdtempSync(join(tmpdir(), "sluice-sink-"));
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.validate?.cleanup();
  await ctx.nats?.stop();
  rmSync(ctx.stateDir, { recursive: true, force: true });
});

test("kill -9 the process running the sink mid-stream, restart it: still exactly N rows", async ({ nats, nc, stateDir }) => {
  const env = { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_SINK_BATCH_ROWS: "500", SLUICE_SINK_BATCH_MS: "100", SLUICE_LOG_LEVEL: "warn" };
  const count = () => scalarOverNats(nc, "SELECT count() FROM sluice.events FINAL");
  const first = SluiceProcess.start(["actor", "clickhouse-sink-events"], env);
  await publishAll(nc, validReadings(N, Date.UTC(2026, 10, 27, 10), 50));
  const before = await waitFor(count, (n) => n > 0, 60_000, 20);
  await first.kill("SIGKILL");
  assert.ok(before > 0 && before < N, `killed mid-stream (${before} of ${N} rows stored): ${first.output}`);

  const second = SluiceProcess.start(["actor", "clickhouse-sink-events"], env);
  try {
    const after = await waitFor(count, (n) => n >= N, 120_000, 500);
    assert.is(after, N, second.output);
    // Redeliveries of the batch in flight at the kill settle as replacements, never extra rows.
    await new Promise((r) => setTimeout(r, 2_000));
    assert.is(await count(), N);
  } finally {
    await second.kill("SIGTERM");
  }
});

test.run();
