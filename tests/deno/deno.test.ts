import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { NatsServer } from "../harness/nats-server.ts";

test("the validate actor runs unchanged under Deno against a real nats-server", async () => {
  const nats = await NatsServer.start();
  try {
    const result = spawnSync("npx", ["deno", "task", "--config", "deno-compatible.json", "smoke"], {
      env: { ...process.env, NATS_URL: nats.url, DENO_NO_UPDATE_CHECK: "1" },
      encoding: "utf8",
      timeout: 120_000,
    });
    const output = `${result.stdout}\n${result.stderr}`;
    assert.is(result.status, 0, output);
    assert.match(result.stdout, /deno smoke: ok deno \d/);
  } finally {
    await nats.stop();
  }
});

test.run();
