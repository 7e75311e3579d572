// The lake as `sluice sql` sees it while the pipeline runs on the embedded engine: lake-raw and
// lake-events write every RAW message and every event, and sluice.lake_raw / sluice.lake_events
// answer over them with the same identities as sluice.events.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { validReadings } from "../harness/events.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";

const test = suite("lake views through sluice sql, with the pipeline running");
const ctx = {} as { nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline };
const N = 200;

test.before(async () => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.pipeline = await startTestPipeline(ctx.nats.url, {
    actors: ["validate", "clickhouse-sink-events", "lake-raw", "lake-events"],
    env: { SLUICE_LAKE_FILE_ROWS: "10", SLUICE_SINK_BATCH_MS: "100" },
  });
});

test.after(async () => {
  await ctx.nc?.close();
  await ctx.pipeline?.cleanup();
  await ctx.nats?.stop();
});

async function sql(query: string): Promise<unknown[][]> {
  const p = SluiceProcess.start(["sql", query, "--format", "json"], { NATS_URL: ctx.nats.url, SLUICE_STATE_DIR: ctx.pipeline.stateDir });
  const code = await new Promise<number | null>((resolve) => p.child.once("exit", resolve));
  assert.is(code, 0, p.output);
  return (JSON.parse(p.output) as Array<Record<string, unknown>>).map((r) => Object.values(r));
}

test("every RAW message and every event is in the lake, and the views answer over them", async () => {
  await publishAll(ctx.nc, validReadings(N));
  await waitFor(() => ctx.pipeline.scalar("SELECT count() FROM sluice.events"), (n) => n >= N, 60_000);
  assert.is(await streamCount(ctx.nc, "RAW"), N);
  // 200 messages of one source in files of 10: all complete, so all in the lake.
  const [[raw]] = await waitFor(() => sql("SELECT count() FROM sluice.lake_raw WHERE source = 'iot'"), (r) => Number(r[0]?.[0]) >= N, 60_000);
  assert.is(Number(raw), N);
  const [[events]] = await waitFor(() => sql("SELECT count() FROM sluice.lake_events WHERE source = 'iot'"), (r) => Number(r[0]?.[0]) >= N, 60_000);
  assert.is(Number(events), N);
  const [[missing, distinct]] = await sql("SELECT countIf(e.event_id = ''), uniqExact(l.event_id) FROM sluice.lake_events AS l LEFT JOIN sluice.events AS e ON e.source = l.source AND e.key = l.key AND e.event_id = l.event_id");
  assert.is(Number(missing), 0, "every event in the lake is in sluice.events");
  assert.is(Number(distinct), N);
  const [[seqs, subjects]] = await sql("SELECT uniqExact(seq), uniqExact(subject) FROM sluice.lake_raw");
  assert.is(Number(seqs), N);
  assert.is(Number(subjects), 5, "five sensors' subjects");
});

test.run();
