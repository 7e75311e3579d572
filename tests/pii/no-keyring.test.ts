// A schema that tokenizes or encrypts, and no keyring: validate stops at start with an error that
// says what to do, and publishes nothing (never a pass-through of clear values).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, streamCount } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { SchemaRegistry } from "../../subjects/registry/index.ts";
import { SCHEMAS_V2 } from "../../subjects/schemas/index.ts";

test("no keyring: validate crashes at start naming the fix, EVENTS and DLQ stay empty", async () => {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => (lines.push(String(chunk)), write(chunk, ...rest))) as typeof process.stderr.write;
  try {
    // The shipped txn v2 tokenizes and encrypts; the registry holds it from its start.
    const registry = await SchemaRegistry.open(nc);
    assert.equal(registry.get("txn", registry.current("txn"))?.schema, SCHEMAS_V2.txn);
    await registry.close();
    // A keyring location that holds none (the test harness would otherwise give the pipeline its test keys).
    const pipeline = await startTestPipeline(nats.url, { actors: ["validate"], env: { SLUICE_KEYRING: join(tmpdir(), `sluice-no-keyring-${process.pid}`, "keyring.json") } });
    try {
      await publishAll(nc, [{ subject: "raw.txn.c-1", body: JSON.stringify({ customer_id: "c-1", merchant_id: "m-1", amount: 1, currency: "EUR", card_number: "4111111111111111", ts: new Date().toISOString() }) }]);
      const crashes = await waitFor(async () => lines.filter((l) => /actor validate crashed: .*no keyring is configured: run `sluice keys init`/.test(l)).length, (n) => n >= 2, 20_000);
      assert.ok(crashes >= 2, `validate crashed on the missing keyring (seen ${crashes})`);
      assert.is(await streamCount(nc, "RAW"), 1);
      assert.is(await streamCount(nc, "EVENTS"), 0, "nothing passed through");
      assert.is(await streamCount(nc, "DLQ"), 0);
    } finally {
      await pipeline.cleanup();
    }
  } finally {
    process.stderr.write = write;
    await nc.close();
    await nats.stop();
  }
});

test.run();
