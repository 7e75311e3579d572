import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { scalarOverNats, SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection; stateDir: string }>("sluice up --split supervises its actor processes");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.stateDir = mkdtempSync(join(tmpdir(), "sluice-split-"));
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.nats?.stop();
  rmSync(ctx.stateDir, { recursive: true, force: true });
});

/** The pid `sluice up` last logged for the process running `name`. */
function pidOf(output: string, name: string): number | undefined {
  const all = [...output.matchAll(new RegExp(`actor process ${name}: pid (\\d+)`, "g"))];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const reading = (seq: number) => `{"sensor_id":"sensor-1","ts":"2026-11-27T10:00:0${seq}Z","temperature":2${seq}.5}`;

test("a SIGKILLed child is restarted (new pid, logged, counted) and processes again; stop leaves no child behind", async ({ nats, nc, stateDir }) => {
  const up = SluiceProcess.start(["up", "--split", "--no-generate"], { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_API_PORT: "0", SLUICE_LOG_LEVEL: "info" });
  const events = () => scalarOverNats(nc, "SELECT count() FROM sluice.events FINAL");
  try {
    await waitFor(async () => up.output, (out) => /sluice is up/.test(out) || up.child.exitCode !== null, 60_000, 100);
    assert.match(up.output, /sluice is up/);
    // Every sink in one process: only one process can open the embedded engine.
    assert.match(up.output, /actor process clickhouse-sink-events,clickhouse-sink-dlq,[a-z-,]+: pid \d+/);
    nc.publish("raw.iot.sensor-1", reading(1));
    assert.is(await waitFor(events, (n) => n >= 1, 60_000), 1, up.output);

    const first = pidOf(up.output, "validate")!;
    assert.ok(first && alive(first), `no live validate process in:\n${up.output}`);
    process.kill(first, "SIGKILL");
    await waitFor(async () => pidOf(up.output, "validate"), (pid) => pid !== first, 15_000, 100);
    const second = pidOf(up.output, "validate")!;
    assert.is.not(second, first, `validate was not restarted:\n${up.output}`);
    assert.match(up.output, new RegExp(`actor process validate \\(pid ${first}\\) exited with signal SIGKILL after [\\d.]+ s; restart 1 in 250 ms`));
    assert.match(up.output, new RegExp(`actor process validate: pid ${second} \\(restart 1\\)`));

    await waitFor(async () => up.output, (out) => out.split(`actor process validate: pid ${second}`)[1]?.includes("actors running: validate") ?? false, 30_000, 100);
    nc.publish("raw.iot.sensor-1", reading(2));
    assert.is(await waitFor(events, (n) => n >= 2, 60_000), 2, `the restarted validate did not process a new message:\n${up.output}`);

    const api = up.output.match(/API\s+(http:\/\/\S+)/)?.[1];
    assert.ok(api, up.output);
    const metrics = await (await fetch(`${api}/metrics`)).text();
    assert.match(metrics, /sluice_actor_restarts_total\{actor="validate"\} 1\n/);

    const children = [...up.output.matchAll(/actor process [a-z-,]+: pid (\d+)/g)].map((m) => Number(m[1]));
    const code = await up.kill("SIGTERM");
    assert.is(code, 0, up.output.slice(-3000));
    assert.equal(children.filter(alive), [], "children outlived sluice up");
  } finally {
    await up.kill("SIGKILL");
  }
});

test.run();
