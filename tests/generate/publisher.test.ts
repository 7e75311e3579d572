import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startPublisher, type PublishCounts } from "../../actors/generate/publisher.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { loadConfig } from "../../config/index.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { streamCount } from "../harness/pipeline.ts";
import { credentialsEnv } from "../harness/roles.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection }>("generator publisher against a real nats-server");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  await ensureStreams(await jetstreamManager(ctx.nc));
});

test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

/** One second of the generator at 40 events/s with seed 3; the lines it logs. */
async function run(nats: NatsServer, runId?: string): Promise<{ runId: string; counts: PublishCounts; lines: string[] }> {
  const lines: string[] = [];
  const publisher = await startPublisher({
    // Signed in as the generator role, as `sluice generate` is.
    natsUrl: nats.url, config: loadConfig(credentialsEnv(nats)), rate: 40, durationSeconds: 1, sources: ["iot", "txn"], seed: 3, anomalyRate: 0,
    log: createLogger("info", (line) => lines.push(line)), runId,
  });
  return { runId: publisher.runId, counts: await publisher.done, lines };
}

const total = (c: PublishCounts) => c.stored + c.duplicates + c.failed;

test("two runs with the same seed both store every event; a rerun of a run id is reported as duplicates", async ({ nats, nc }) => {
  const first = await run(nats);
  const second = await run(nats);
  assert.is.not(first.runId, second.runId, "each run draws its own id");
  for (const r of [first, second]) {
    assert.ok(r.counts.stored >= 20, `a second at 40/s stores most of 40 events (${r.counts.stored})`);
    assert.is(r.counts.duplicates, 0);
    assert.is(r.counts.failed, 0);
    assert.ok(r.lines.some((l) => l.includes(`stored ${r.counts.stored}, duplicates 0`)), r.lines.join("\n"));
  }
  assert.is(await streamCount(nc, "RAW"), first.counts.stored + second.counts.stored, "RAW holds both runs");

  // The same run id again: the same ids within RAW's duplicate window.
  const again = await run(nats, first.runId);
  const overlap = Math.min(total(first.counts), total(again.counts));
  assert.is(again.counts.duplicates, overlap, "every id the first run used is a duplicate");
  assert.is(again.counts.stored, total(again.counts) - overlap, "only ids past the first run's last are new");
  assert.ok(again.lines.some((l) => l.includes(`duplicates ${overlap} (RAW already held`)), again.lines.join("\n"));
  assert.is(await streamCount(nc, "RAW"), first.counts.stored + second.counts.stored + again.counts.stored, "the stream agrees with the counts");
});

test.run();
