import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { scalarOverNats, SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { validReadings } from "../harness/events.ts";
import { publishAll, streamCount } from "../harness/pipeline.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureStreams } from "../../subjects/setup.ts";
import { streamOverrides } from "../../actors/pipeline.ts";
import { loadConfig } from "../../config/index.ts";
import { subject } from "../../subjects/catalog.ts";
import { readLocalNatsUrl } from "../../cli/state.ts";
import { readNatsUser } from "../../auth/nats-users.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

/** What an operator's "stops within 10 s" means, whatever the load. */
const STOP_WITHIN_MS = 10_000;
// Generator load these tests stop under: within what the pipeline sustains while `npm test` runs two
// files at once on a 2-core machine (at 2,000/s, with PII protection on, every actor timed out and
// restarted there before the shutdown was even reached).
const LOAD_RATE = "1000";

const test = suite<{ nats: NatsServer; nc: NatsConnection; stateDirs: string[] }>("stopping sluice up");

// A server per test: a test that stalls or kills it leaves nothing behind for the next one.
test.before(async (ctx) => {
  ctx.stateDirs = [];
});
test.before.each(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
});
test.after.each(async (ctx) => {
  if (ctx.nats.pid) process.kill(ctx.nats.pid, "SIGCONT");
  await ctx.nc.close();
  await ctx.nats.stop();
});
test.after(async (ctx) => {
  for (const dir of ctx.stateDirs) rmSync(dir, { recursive: true, force: true });
});

function up(ctx: { nats: NatsServer; stateDirs: string[] }, args: string[], env: Record<string, string> = {}): SluiceProcess {
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-up-"));
  ctx.stateDirs.push(stateDir);
  return SluiceProcess.start(["up", ...args], { NATS_URL: ctx.nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_API_PORT: "0", SLUICE_LOG_LEVEL: "info", ...env });
}

/** Sends `signal` and measures until the process is gone. */
async function stopTimed(p: SluiceProcess, signal: NodeJS.Signals): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  const exited = new Promise<number | null>((resolve) => p.child.once("exit", (code) => resolve(code)));
  const killer = setTimeout(() => p.child.kill("SIGKILL"), 60_000);
  p.child.kill(signal);
  const code = await exited;
  clearTimeout(killer);
  return { code, ms: Date.now() - t0 };
}

test(`SIGTERM under generator load (--rate ${LOAD_RATE}): stopped within 10 s, exit 0`, async (ctx) => {
  const p = up(ctx, ["--rate", LOAD_RATE]);
  try {
    await waitFor(async () => p.output, (out) => /sluice is up/.test(out) || p.child.exitCode !== null, 60_000, 100);
    const rows = await waitFor(() => scalarOverNats(ctx.nc, "SELECT count() FROM sluice.events"), (n) => n > 2_000, 60_000, 250);
    assert.ok(rows > 2_000, `pipeline never got under load (${rows} rows):\n${p.output}`);
    const { code, ms } = await stopTimed(p, "SIGTERM");
    assert.ok(ms < STOP_WITHIN_MS, `took ${ms} ms to stop:\n${p.output.slice(-3000)}`);
    assert.is(code, 0, p.output.slice(-3000));
    assert.match(p.output, /SIGTERM: stopping/);
    assert.match(p.output, /\bstopped\b/);
  } finally {
    await p.kill("SIGKILL");
  }
});

test("Ctrl-C in a terminal (SIGINT to the whole process group) with its own nats-server, under load: stopped within 10 s, server stopped after the actors", async (ctx) => {
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-up-"));
  ctx.stateDirs.push(stateDir);
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_STATE_DIR: stateDir, SLUICE_API_PORT: "0", SLUICE_LOG_LEVEL: "info" };
  delete env.NATS_URL;
  // Its own process group, as a shell gives a foreground job; the terminal signals the group.
  const child = spawn(process.execPath, [BIN, "up", "--rate", LOAD_RATE], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const p = { child, output: "" };
  child.stdout.on("data", (d) => (p.output += d));
  child.stderr.on("data", (d) => (p.output += d));
  try {
    await waitFor(async () => p.output, (out) => /sluice is up/.test(out) || child.exitCode !== null, 60_000, 100);
    const url = readLocalNatsUrl(stateDir);
    assert.ok(url, `no local nats-server URL in the state dir:\n${p.output}`);
    // Its nats-server has authorization (the default): sign in as the admin it generated.
    const admin = readNatsUser(join(stateDir, "nats-credentials"), "admin");
    assert.ok(admin, `no generated admin user:\n${p.output}`);
    const signIn = { user: admin.user, pass: admin.password };
    const nc = await connect({ servers: url, reconnect: false, ...signIn });
    const rows = await waitFor(() => scalarOverNats(nc, "SELECT count() FROM sluice.events"), (n) => n > 2_000, 60_000, 250).finally(() => nc.close());
    assert.ok(rows > 2_000, `pipeline never got under load (${rows} rows):\n${p.output}`);
    const t0 = Date.now();
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    process.kill(-child.pid!, "SIGINT");
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), 30_000)))]);
    clearTimeout(timer);
    const ms = Date.now() - t0;
    assert.ok(ms < STOP_WITHIN_MS, `took ${ms} ms to stop (${code}):\n${p.output.slice(-3000)}`);
    assert.is(code, 0, p.output.slice(-3000));
    assert.not.match(p.output, /stop did not finish/);
    const after = await connect({ servers: url, reconnect: false, ...signIn }).then((c) => c.close().then(() => "still up"), () => "gone");
    assert.is(after, "gone", "the local nats-server outlived sluice up");
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
  }
});

test("a stop that cannot finish (server stalled) exits at the deadline with code 1, naming what still ran", async (ctx) => {
  const p = up(ctx, ["--no-generate"], { SLUICE_SHUTDOWN_TIMEOUT_MS: "3000" });
  try {
    await waitFor(async () => p.output, (out) => /sluice is up/.test(out) || p.child.exitCode !== null, 60_000, 100);
    assert.match(p.output, /sluice is up/);
    // Accepts the TCP connection and never answers: no status event, no error, every drain and flush waits.
    process.kill(ctx.nats.pid!, "SIGSTOP");
    const { code, ms } = await stopTimed(p, "SIGTERM");
    assert.is(code, 1, p.output.slice(-3000));
    assert.ok(ms >= 3_000 && ms < 5_000, `exited after ${ms} ms, expected at the 3000 ms deadline:\n${p.output.slice(-3000)}`);
    assert.match(p.output, /stop did not finish within 3000 ms \(SLUICE_SHUTDOWN_TIMEOUT_MS\); still running: \S/);
  } finally {
    process.kill(ctx.nats.pid!, "SIGCONT");
    await p.kill("SIGKILL");
  }
});

test("SIGTERM right after draining a backlog (--no-generate): stopped within 10 s, exit 0", async (ctx) => {
  const backlog = 30_000;
  // The backlog waits in RAW before any actor runs.
  await ensureStreams(await jetstreamManager(ctx.nc), streamOverrides(loadConfig({})));
  await publishAll(ctx.nc, validReadings(backlog, Date.UTC(2026, 10, 27, 10), 50));
  assert.is(await waitFor(() => streamCount(ctx.nc, "RAW"), (n) => n >= backlog, 20_000), backlog);
  const p = up(ctx, ["--no-generate"]);
  try {
    await waitFor(async () => p.output, (out) => /sluice is up/.test(out) || p.child.exitCode !== null, 60_000, 100);
    assert.match(p.output, /sluice is up/);
    const rows = await waitFor(() => scalarOverNats(ctx.nc, "SELECT count() FROM sluice.events"), (n) => n >= backlog || p.child.exitCode !== null, 120_000, 250);
    assert.ok(rows >= backlog, `backlog not drained (${rows} of ${backlog} rows):\n${p.output.slice(-3000)}`);
    const { code, ms } = await stopTimed(p, "SIGTERM");
    assert.ok(ms < STOP_WITHIN_MS, `took ${ms} ms to stop:\n${p.output.slice(-3000)}`);
    assert.is(code, 0, p.output.slice(-3000));
  } finally {
    await p.kill("SIGKILL");
  }
});

test("a second Ctrl-C exits at once while the first stop is stuck on a server that answers nothing", async (ctx) => {
  const p = up(ctx, ["--no-generate"]);
  try {
    await waitFor(async () => p.output, (out) => /sluice is up/.test(out) || p.child.exitCode !== null, 60_000, 100);
    assert.match(p.output, /sluice is up/);
    process.kill(ctx.nats.pid!, "SIGSTOP");
    p.child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 500));
    assert.is(p.child.exitCode, null, "the first stop was not held up; the test proves nothing");
    const { code, ms } = await stopTimed(p, "SIGINT");
    assert.is(code, 130, p.output.slice(-2000));
    assert.ok(ms < 1_500, `second SIGINT took ${ms} ms`);
    assert.match(p.output, /second SIGINT: exiting now/);
  } finally {
    process.kill(ctx.nats.pid!, "SIGCONT");
    await p.kill("SIGKILL");
  }
});

test("NATS gone during shutdown under load: exits within the deadline and never joins a new server on the same port", async (ctx) => {
  const p = up(ctx, ["--rate", LOAD_RATE]);
  try {
    await waitFor(async () => p.output, (out) => /sluice is up/.test(out) || p.child.exitCode !== null, 60_000, 100);
    assert.match(p.output, /sluice is up/);
    await ctx.nats.kill("SIGKILL");
    const stopped = stopTimed(p, "SIGTERM");
    // Another `sluice up` (here: another server) takes the port while we are stopping.
    await ctx.nats.restart();
    const probe = await connect({ servers: ctx.nats.url });
    let answered = 0;
    let running = true;
    void stopped.then(() => (running = false));
    try {
      while (running) {
        await probe.request(subject.sqlService(), JSON.stringify({ query: "SELECT 1" }), { timeout: 300 }).then(() => answered++, () => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await probe.close();
    }
    const { ms } = await stopped;
    assert.ok(ms < STOP_WITHIN_MS, `took ${ms} ms to stop:\n${p.output.slice(-3000)}`);
    assert.is(answered, 0, `the stopping process reconnected to the new server and answered ${answered} SQL requests:\n${p.output.slice(-3000)}`);
  } finally {
    await p.kill("SIGKILL");
  }
});

test.run();
