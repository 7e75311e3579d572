// SLUICE_TEST_NATS_AUTH=on (the default): the harness's nats-server runs sluice's generated authorization; the
// actors a test starts sign in as their own users and only anonymous test probes act as the
// test-only no_auth_user. That user must never reach a config sluice generates for real.
process.env.SLUICE_TEST_NATS_AUTH = "on";

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { startTestPipeline } from "../harness/pipeline.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { TEST_NO_AUTH_USER } from "../harness/test-nats-auth.ts";
import { ensureNatsUsers, natsAuthorizationConfig } from "../../auth/nats-users.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { DEFAULT_PARTITIONS } from "../../config/index.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection }>("test-nats-auth");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

async function waitForUser(nats: NatsServer, name: string, timeoutMs = 60_000): Promise<Array<{ name: string; user: string }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const conns = (await nats.connections()).filter((c) => c.name.startsWith(name));
    if (conns.length) return conns;
    if (Date.now() > deadline) throw new Error(`no connection named ${name} within ${timeoutMs} ms: ${JSON.stringify(await nats.connections())}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("an anonymous probe acts as the test-only user", async ({ nats, nc }) => {
  const mine = (await nats.connections()).filter((c) => c.user === TEST_NO_AUTH_USER);
  assert.ok(mine.length >= 1, "the probe connection signed in as the no_auth_user");
  await withDeadline(nc.flush(), { what: "probe flush", timeoutMs: 10_000 });
});

test("in-process actors sign in as their own generated user, a subset as a user added on the fly", async ({ nats }) => {
  const pipeline = await startTestPipeline(nats.url, { actors: ["validate", "window"] });
  try {
    const conns = await waitForUser(nats, "sluice:validate,window#");
    for (const c of conns) assert.is(c.user, "actors-validate+window", `${c.name} signed in as ${c.user}`);
    assert.equal(await nats.sluiceClientsAsProbe(), []);
  } finally {
    await pipeline.cleanup();
  }
});

test("a sluice actor process signs in as its generated user", async ({ nats }) => {
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-state-"));
  const proc = SluiceProcess.start(["actor", "detect"], { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "warn" });
  try {
    const conns = await waitForUser(nats, "sluice:detect#", 90_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${proc.output}`);
    });
    for (const c of conns) assert.is(c.user, "actor-detect", `${c.name} signed in as ${c.user}`);
    assert.equal(await nats.sluiceClientsAsProbe(), []);
  } finally {
    await proc.kill("SIGTERM");
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("the test-only user never appears in what sluice generates", () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-deploy-"));
  try {
    const text = natsAuthorizationConfig(ensureNatsUsers(join(dir, "creds"), { partitions: DEFAULT_PARTITIONS }));
    assert.not.match(text, TEST_NO_AUTH_USER);
    assert.not.match(text, "no_auth_user");
    const bin = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
    execFileSync(process.execPath, [bin, "deploy", "nats-config", "--out", join(dir, "deploy")], { stdio: "pipe", env: { ...process.env, SLUICE_TEST_NATS_AUTH: "on" } });
    const deployed = readFileSync(join(dir, "deploy", "auth.conf"), "utf8");
    assert.match(deployed, "authorization");
    assert.not.match(deployed, TEST_NO_AUTH_USER);
    assert.not.match(deployed, "no_auth_user");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
