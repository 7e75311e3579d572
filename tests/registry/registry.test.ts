import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { waitFor } from "../harness/wait.ts";
import { IncompatibleSchemaError, InvalidSchemaError, SchemaRegistry } from "../../subjects/registry/index.ts";
import { SCHEMAS_V1, SCHEMAS_V2 } from "../../subjects/schemas/index.ts";

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/registry/${name}`, import.meta.url), "utf8")) as Record<string, unknown>;

const test = suite<{ nats: NatsServer; nc: NatsConnection; watcherNc: NatsConnection; registry: SchemaRegistry; watcher: SchemaRegistry }>("schema registry in NATS KV");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.watcherNc = await connect({ servers: ctx.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  ctx.registry = await SchemaRegistry.open(ctx.nc);
  ctx.watcher = await SchemaRegistry.open(ctx.watcherNc);
  ctx.watcher.watch();
});

test.after(async (ctx) => {
  await ctx.watcher?.close();
  await ctx.watcherNc?.close();
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

test("an empty bucket is seeded with the shipped schemas (v1, then v2 with its PII rules), mode backward", ({ registry }) => {
  for (const s of registry.list()) {
    assert.equal(s.versions, [1, 2], s.source);
    assert.is(s.mode, "backward");
    assert.equal(registry.get(s.source, 1)!.schema, SCHEMAS_V1[s.source]);
    assert.equal(registry.get(s.source, 2)!.schema, SCHEMAS_V2[s.source]);
  }
});

test("an incompatible schema is refused with a diff naming each field, and nothing is registered", async ({ registry }) => {
  const err = await registry.add("iot", fixture("iot.v3-breaking.json")).catch((e: Error) => e);
  assert.instance(err, IncompatibleSchemaError);
  const message = (err as Error).message;
  assert.match(message, /iot v3 is NOT backward compatible with v2/);
  assert.match(message, /humidity: type \["number"\] became \["integer"\]/);
  assert.match(message, /site: .*requires it/);
  assert.match(message, /temperature: maximum nothing became 60/);
  assert.match(message, /sluice schema mode iot/);
  await registry.refresh();
  assert.equal(registry.versions("iot"), [1, 2]);
});

test("a schema that drops the key or time field, or is no JSON Schema, is refused before compatibility", async ({ registry }) => {
  const noKey = { ...SCHEMAS_V1.txn, required: ["ts"] };
  const err = await registry.add("txn", noKey).catch((e: Error) => e);
  assert.instance(err, InvalidSchemaError);
  assert.match((err as Error).message, /"customer_id" must stay in "required"/);
  const bad = await registry.add("txn", { ...SCHEMAS_V1.txn, properties: { amount: { type: "money" } } }).catch((e: Error) => e);
  assert.match((bad as Error).message, /not a valid JSON Schema/);
  const upcast = await registry.add("txn", { ...SCHEMAS_V1.txn, "x-sluice-upcast": [{ op: "unit", field: "amount", from: "cents", to: "euros" }] }).catch((e: Error) => e);
  assert.match((upcast as Error).message, /no conversion from cents to euros/);
});

test("a compatible v3 is registered, the same document again is no new version, and a watcher sees it", async ({ registry, watcher }) => {
  const first = await registry.add("iot", fixture("iot.v3.json"));
  assert.is(first.version, 3);
  assert.ok(first.created);
  const again = await registry.add("iot", fixture("iot.v3.json"));
  assert.is(again.version, 3);
  assert.not.ok(again.created);
  const seen = await waitFor(async () => watcher.current("iot"), (v) => v === 3, 5_000, 50);
  assert.is(seen, 3);
});

test("the mode is per source and checked on the next add", async ({ registry }) => {
  await registry.setConfig("social", { mode: "full", policy: "lenient" });
  const relaxed = { ...SCHEMAS_V2.social, properties: { ...(SCHEMAS_V2.social.properties as object), text: { type: "string", maxLength: 10_000 } } };
  const report = registry.check("social", relaxed);
  assert.not.ok(report.compatible, "raising maxLength is backward only, full refuses it");
  assert.is(report.incompatibilities[0].direction, "forward");
  assert.ok(registry.check("social", relaxed, { mode: "backward" }).compatible);
  assert.is(registry.config("iot").mode, "backward", "other sources keep theirs");
});

test("the watch survives a nats-server restart and sees a version registered after it", async ({ nats, watcher }) => {
  await nats.restart(300);
  const nc = await connect({ servers: nats.url });
  try {
    const registry = await SchemaRegistry.open(nc);
    const v4 = fixture("iot.v3.json");
    v4.title = "iot v4";
    (v4.properties as Record<string, unknown>).uptime_s = { type: "integer", minimum: 0 };
    const { version } = await registry.add("iot", v4);
    assert.is(version, 4);
    const seen = await waitFor(async () => watcher.current("iot"), (v) => v === 4, 10_000, 50);
    assert.is(seen, 4, "the watcher follows after the restart");
  } finally {
    await nc.close();
  }
});

test.run();
