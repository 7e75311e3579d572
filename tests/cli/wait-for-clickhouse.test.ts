import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { ClickHouseServer } from "../harness/clickhouse-server.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { openClickHouse } from "../../clickhouse/index.ts";

const test = suite<{ nats: NatsServer; ch: ClickHouseServer; stateDir: string }>("a sink started while ClickHouse is down");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.ch = await ClickHouseServer.start();
  await ctx.ch.kill("SIGKILL");
  ctx.stateDir = mkdtempSync(join(tmpdir(), "sluice-wait-ch-"));
});
test.after(async (ctx) => {
  await ctx.ch?.stop();
  await ctx.nats?.stop();
  rmSync(ctx.stateDir, { recursive: true, force: true });
});

test("waits for the server (logged once), then migrates and stores what arrived meanwhile", async ({ nats, ch, stateDir }) => {
  const env = { NATS_URL: nats.url, CLICKHOUSE_URL: ch.url, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "info" };
  const validate = SluiceProcess.start(["actor", "validate"], env);
  const sink = SluiceProcess.start(["actor", "clickhouse-sink-events"], env);
  const nc = await connect({ servers: nats.url });
  try {
    await waitFor(async () => sink.output, (out) => /waiting for ClickHouse/.test(out) || sink.child.exitCode !== null, 30_000, 100);
    await waitFor(async () => validate.output, (out) => /actors running: validate/.test(out), 30_000, 100);
    for (let i = 0; i < 20; i++) nc.publish(`raw.iot.sensor-${i}`, `{"sensor_id":"sensor-${i}","ts":"2026-11-27T10:00:00Z","temperature":${i}}`);
    await nc.flush();
    await new Promise((r) => setTimeout(r, 2_000));
    assert.is(sink.child.exitCode, null, `the sink exited instead of waiting:\n${sink.output}`);
    assert.is(sink.output.match(/waiting for ClickHouse/g)?.length, 1, `logged the wait more than once:\n${sink.output}`);

    await ch.restart();
    await waitFor(async () => sink.output, (out) => /actors running: clickhouse-sink-events/.test(out), 60_000, 200);
    const { client, close } = await openClickHouse({ url: ch.url, dataDir: stateDir });
    try {
      const count = async () => Number(((await (await client.query({ query: "SELECT count() AS n FROM sluice.events", format: "JSONEachRow" })).json()) as Array<{ n: string }>)[0].n);
      assert.is(await waitFor(count, (n) => n >= 20, 30_000), 20, sink.output);
    } finally {
      await close();
    }
    assert.match(sink.output, /ClickHouse at .* reachable after \d+\.\d s/);
  } finally {
    await nc.close();
    await sink.kill("SIGTERM");
    await validate.kill("SIGTERM");
  }
});

test.run();
