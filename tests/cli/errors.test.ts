import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig } from "../../config/index.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

function sluice(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("a bad environment value names the variable and what it expects", () => {
  for (const [env, pattern] of [
    [{ SLUICE_PARTITIONS: "zero" }, /SLUICE_PARTITIONS="zero" is not valid: expected an integer from 1 to 256/],
    [{ NATS_URL: "http://x" }, /NATS_URL="http:\/\/x" has protocol http:: expected one of nats: tls: ws: wss:/],
    [{ CLICKHOUSE_URL: "not a url" }, /CLICKHOUSE_URL="not a url" is not a URL/],
    [{ SLUICE_LOG_LEVEL: "loud" }, /SLUICE_LOG_LEVEL="loud": expected one of debug, info, warn, error/],
    [{ SLUICE_API_HOST: "a b" }, /SLUICE_API_HOST="a b" is not a host name or address/],
  ] as const) {
    try {
      loadConfig(env);
      assert.unreachable(`accepted ${JSON.stringify(env)}`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.match((err as Error).message, pattern);
    }
  }
  assert.is(loadConfig({}).apiHost, "127.0.0.1", "the API binds loopback unless told otherwise");
});

test("the CLI exits 2 with a message that says what to fix", () => {
  const unknown = sluice(["frobnicate"]);
  assert.is(unknown.code, 2);
  assert.match(unknown.err, /unknown command "frobnicate"/);
  assert.match(unknown.err, /usage: sluice <command>/);

  const badFlag = sluice(["generate", "--rate", "fast"], { NATS_URL: "nats://127.0.0.1:1" });
  assert.is(badFlag.code, 2);
  assert.match(badFlag.err, /--rate "fast" is not a number/);

  const badEnv = sluice(["sql", "SELECT 1"], { SLUICE_PARTITIONS: "0" });
  assert.is(badEnv.code, 2);
  assert.match(badEnv.err, /SLUICE_PARTITIONS="0" is not valid/);

  const noQuery = sluice(["sql"]);
  assert.is(noQuery.code, 2);
  assert.match(noQuery.err, /no query given/);

  const badActor = sluice(["actor", "teleport"]);
  assert.is(badActor.code, 2);
  assert.match(badActor.err, /unknown actor teleport; expected one of validate/);
});

test.run();
