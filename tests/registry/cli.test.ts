import { suite } from "uvu";
import * as assert from "uvu/assert";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { NatsServer } from "../harness/nats-server.ts";
import { credentialsEnv } from "../harness/roles.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../fixtures/registry/", import.meta.url));

interface Run { code: number; stdout: string; stderr: string }

function sluice(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, "schema", ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const test = suite<{ nats: NatsServer; env: Record<string, string> }>("sluice schema CLI");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  // `sluice schema` signs in as the operator, the one role that may write the registry.
  ctx.env = { NATS_URL: ctx.nats.url, SLUICE_LOG_LEVEL: "warn", ...credentialsEnv(ctx.nats) };
});

test.after(async (ctx) => {
  await ctx.nats?.stop();
});

test("list shows every source at the shipped v2, mode backward", async ({ env }) => {
  const r = await sluice(["list"], env);
  assert.is(r.code, 0, r.stderr);
  for (const s of ["iot", "social", "txn"]) assert.match(r.stdout, new RegExp(`${s}\\s+2\\s+v1 v2\\s+backward\\s+lenient`));
});

test("check reports an incompatible file with its diff and exit 1, registering nothing", async ({ env }) => {
  const r = await sluice(["check", "iot", `${FIXTURES}iot.v3-breaking.json`], env);
  assert.is(r.code, 1);
  assert.match(r.stdout, /iot v3 is NOT backward compatible with v2/);
  assert.match(r.stdout, /humidity: type \["number"\] became \["integer"\]/);
  const list = await sluice(["list"], env);
  assert.match(list.stdout, /iot\s+2\s+v1 v2\s/);
});

test("add refuses the incompatible file with the diff; add registers the compatible one; show prints it", async ({ env }) => {
  const refused = await sluice(["add", "iot", `${FIXTURES}iot.v3-breaking.json`], env);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /NOT backward compatible[\s\S]*Nothing was registered/);
  const added = await sluice(["add", "iot", `${FIXTURES}iot.v3.json`], env);
  assert.is(added.code, 0, added.stderr);
  assert.match(added.stdout, /registered iot v3/);
  const shown = await sluice(["show", "iot@3"], env);
  assert.is(shown.code, 0, shown.stderr);
  assert.is(JSON.parse(shown.stdout).title, "iot v3");
  assert.match(shown.stderr, /iot__firmware/);
  const current = await sluice(["show", "iot"], env);
  assert.is(JSON.parse(current.stdout).title, "iot v3", "no @version shows the current one");
});

test("mode sets the source's mode, and a breaking file passes under none", async ({ env }) => {
  const set = await sluice(["mode", "iot", "none"], env);
  assert.is(set.code, 0, set.stderr);
  assert.match(set.stdout, /iot: mode none, policy lenient/);
  const check = await sluice(["check", "iot", `${FIXTURES}iot.v3-breaking.json`], env);
  assert.is(check.code, 0, check.stdout);
  const list = await sluice(["list"], env);
  assert.match(list.stdout, /iot\s+3\s+v1 v2 v3\s+none/);
});

test("bad input says what to fix, with exit 2", async ({ env }) => {
  const cases: Array<[string[], RegExp]> = [
    [["add", "weather", "x.json"], /unknown source "weather"; expected one of iot, social, txn/],
    [["check", "iot", `${FIXTURES}iot.v3.json`, "--mode", "sideways"], /--mode "sideways": expected one of backward, forward, full, none/],
    [["show", "iot@two"], /version after @ must be a whole number/],
    [["add", "iot", "/nonexistent/schema.json"], /cannot read \/nonexistent\/schema.json/],
    [["frobnicate"], /unknown subcommand "frobnicate"/],
    [["mode", "iot"], /name the mode/],
  ];
  for (const [args, message] of cases) {
    const r = await sluice(args, env);
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test.run();
