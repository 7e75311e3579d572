// The registry starts with the shipped schemas, so their PII rules (v2) are on by default; a
// registry that holds only the shipped v1 (started by an older sluice) gets v2 at its next open, and
// a source with a version of its own is left as it is.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { SchemaRegistry } from "../../subjects/registry/index.ts";
import { SCHEMAS_V1, SCHEMAS_V2, SHIPPED_SCHEMAS } from "../../subjects/schemas/index.ts";
import { SOURCES } from "../../subjects/sources.ts";

test("only the shipped v1 (whatever its wording) → the shipped v2 is registered at open (and said); a source with its own v2 keeps it", async () => {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  try {
    const older = await SchemaRegistry.open(nc, { seed: false });
    // social's v1 as an older sluice shipped it, with other wording: still the shipped v1.
    for (const source of SOURCES) await older.add(source, source === "social" ? { ...SCHEMAS_V1.social, description: "One post (older wording)." } : SCHEMAS_V1[source]);
    const own = { ...SCHEMAS_V1.iot, title: "iot v2 of our own", properties: { ...(SCHEMAS_V1.iot.properties as object), firmware: { type: "string" } } };
    assert.is((await older.add("iot", own)).version, 2);
    assert.equal(SOURCES.map((s) => older.current(s)), [2, 1, 1]);
    await older.close();

    const said: string[] = [];
    const registry = await SchemaRegistry.open(nc, { log: { info: (m) => said.push(m), warn: (m) => said.push(m) } });
    assert.equal(registry.versions("txn"), [1, 2]);
    assert.equal(registry.get("txn", 2)!.schema, SCHEMAS_V2.txn, "the shipped txn v2, with its x-sluice-pii rules");
    assert.equal(registry.get("social", 2)!.schema, SCHEMAS_V2.social, "a v1 that differs only in its description is the shipped one");
    assert.equal(registry.versions("iot"), [1, 2]);
    assert.is(registry.get("iot", 2)!.schema.title, "iot v2 of our own", "the operator's iot v2 is not replaced");
    assert.ok(said.some((m) => /registered the shipped txn v2/.test(m)) && !said.some((m) => /shipped iot/.test(m)), said.join("\n"));

    // Opening again changes nothing: every shipped version is there.
    const again = await SchemaRegistry.open(nc);
    assert.equal(SOURCES.map((s) => again.versions(s)), [[1, 2], [1, 2], [1, 2]]);
    assert.is(SHIPPED_SCHEMAS.txn.length, 2);
  } finally {
    await nc.close();
    await nats.stop();
  }
});

test.run();
