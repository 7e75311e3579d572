import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { streamCount } from "../harness/pipeline.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";

const test = suite<{ nats: NatsServer; stateDir: string }>("a process started before its NATS server");

test.before(async (ctx) => {
  // A port that a server had a moment ago and nobody listens on now; restart() brings it back there.
  ctx.nats = await NatsServer.start();
  await ctx.nats.kill("SIGTERM");
  ctx.stateDir = mkdtempSync(join(tmpdir(), "sluice-wait-"));
});
test.after(async (ctx) => {
  await ctx.nats?.stop();
  rmSync(ctx.stateDir, { recursive: true, force: true });
});

test("sluice actor validate waits for the server, says so once, and then works", async ({ nats, stateDir }) => {
  const actor = SluiceProcess.start(["actor", "validate"], { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "info" });
  try {
    await waitFor(async () => actor.output, (out) => /waiting for NATS at .* \(retrying\)/.test(out) || actor.child.exitCode !== null, 30_000, 100);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.is(actor.child.exitCode, null, `exited instead of waiting:\n${actor.output}`);
    assert.is(actor.output.match(/waiting for NATS/g)?.length, 1, `logged the wait more than once:\n${actor.output}`);

    await nats.restart();
    await waitFor(async () => actor.output, (out) => /actors running: validate/.test(out), 30_000, 100);
    const nc = await connect({ servers: nats.url });
    try {
      nc.publish("raw.iot.sensor-1", `{"sensor_id":"sensor-1","ts":"2026-11-27T10:00:00Z","temperature":21.5}`);
      await nc.flush();
      const events = await waitFor(() => streamCount(nc, "EVENTS"), (n) => n >= 1, 20_000);
      assert.is(events, 1, actor.output);
    } finally {
      await nc.close();
    }
    assert.match(actor.output, /connected to NATS at .* after \d+\.\d s/);
  } finally {
    await actor.kill("SIGTERM");
  }
});

test("Ctrl-C while waiting for the server stops the process at once", async ({ stateDir }) => {
  const nowhere = await NatsServer.start();
  await nowhere.kill("SIGTERM");
  const actor = SluiceProcess.start(["actor", "validate"], { NATS_URL: nowhere.url, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "info" });
  try {
    await waitFor(async () => actor.output, (out) => /waiting for NATS/.test(out) || actor.child.exitCode !== null, 30_000, 100);
    const t0 = Date.now();
    const code = await actor.kill("SIGINT");
    const ms = Date.now() - t0;
    assert.is(code, 0, actor.output);
    assert.ok(ms < 2_000, `took ${ms} ms to stop:\n${actor.output}`);
    assert.match(actor.output, /SIGINT while waiting for NATS: stopped/);
  } finally {
    await actor.kill("SIGKILL");
    await nowhere.stop();
  }
});

test.run();
