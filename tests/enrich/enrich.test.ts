// "Done when" of issue 10, enrichment half: a merchant's category changes in KV mid-stream; events
// before carry the old value, events after the new one (within 1 s of the put, no restart), each row
// names the KV revision it used; a missing entry dead-letters or is flagged, per source.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { SchemaRegistry } from "../../subjects/registry/index.ts";
import { SCHEMAS_V2 } from "../../subjects/schemas/index.ts";
import { newKeyring, serializeKeyring } from "../../pii/index.ts";
import { kindOfSource, openReferenceBucket, parseReferences, REFERENCE_KINDS, writeReferences } from "../../enrich/index.ts";
import { createGenerator } from "../../actors/generate/index.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline }>("enrich");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  const registry = await SchemaRegistry.open(ctx.nc);
  for (const source of ["txn", "social"] as const) await registry.add(source, SCHEMAS_V2[source]);
  await registry.close();
  const merchants = await openReferenceBucket(ctx.nc, "merchants");
  await merchants.put("m-1", JSON.stringify({ category: "grocery", country: "GB" }));
  await (await openReferenceBucket(ctx.nc, "users")).put("u-1", JSON.stringify({ tier: "gold" }));
  ctx.pipeline = await startTestPipeline(ctx.nats.url, {
    actors: ["validate", "clickhouse-sink-events", "clickhouse-sink-dlq"],
    env: { SLUICE_PII_KEYS: serializeKeyring(newKeyring()), SLUICE_MISSING_REFERENCE: "txn=dead_letter", SLUICE_SINK_BATCH_MS: "100", SLUICE_PARTITIONS: "1" },
  });
});

test.after(async (ctx) => {
  await ctx.pipeline?.cleanup();
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

const payment = (n: number, merchant = "m-1") => ({
  subject: "raw.txn.cust-1",
  body: JSON.stringify({ event_id: `pay-${n}`, customer_id: "cust-1", merchant_id: merchant, amount: n, currency: "GBP", ts: new Date(Date.now() - 60_000 + n).toISOString() }),
});

async function rows(p: TestPipeline, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await p.clickhouse!.client.query({ query: sql, format: "JSONEachRow" })).json();
}

async function until(p: TestPipeline, sql: string, done: (n: number) => boolean): Promise<void> {
  const n = await waitFor(() => p.scalar(sql), done, 30_000);
  assert.ok(done(n), `${sql}: ${n}`);
}

test("a category changed in KV mid-stream: old value before, new after within 1 s, each row names its revision", async ({ nc, pipeline }) => {
  const merchants = await openReferenceBucket(nc, "merchants");
  const first = (await merchants.get("m-1"))!.revision;
  await publishAll(nc, Array.from({ length: 5 }, (_, i) => payment(i)));
  await until(pipeline, "SELECT count() FROM sluice.events WHERE source = 'txn'", (n) => n === 5);
  const putAt = Date.now();
  const second = await merchants.put("m-1", JSON.stringify({ category: "electronics", country: "GB" }));
  // One payment every 50 ms after the put until one carries the new entry.
  let n = 5;
  const sentAt = new Map<string, number>();
  const seen = await waitFor(async () => {
    const m = payment(n++);
    sentAt.set(JSON.parse(m.body).event_id, Date.now());
    await publishAll(nc, [m]);
    return pipeline.scalar(`SELECT count() FROM sluice.events WHERE source = 'txn' AND position(payload, '"merchant_ref_rev":${second}') > 0`);
  }, (c) => c > 0, 10_000, 50);
  assert.ok(seen > 0, "an event carries the new revision");
  await until(pipeline, "SELECT count() FROM sluice.events WHERE source = 'txn'", (c) => c === n);
  const stored = (await rows(pipeline, "SELECT event_id, raw_seq, payload FROM sluice.events FINAL WHERE source = 'txn' ORDER BY raw_seq")).map((r) => ({ ...(JSON.parse(String(r.payload)) as Record<string, unknown>), id: String(r.event_id) }) as Record<string, unknown> & { id: string });
  const switchAt = stored.findIndex((r) => r.merchant_ref_rev === second);
  assert.ok(switchAt >= 5, "the five before the put keep the old entry");
  for (const [i, r] of stored.entries()) {
    const [category, revision] = i < switchAt ? ["grocery", first] : ["electronics", second];
    assert.equal([r.merchant_category, r.merchant_ref_rev, r.merchant_country], [category, revision, "GB"], `${r.id} (${i} of ${stored.length})`);
  }
  const firstNew = stored[switchAt].id;
  assert.ok(sentAt.get(firstNew)! - putAt < 1_000, `the update applied within 1 s (${sentAt.get(firstNew)! - putAt} ms)`);
  // The enriched field is a typed column, as the v2 schema declares it.
  await until(pipeline, "SELECT count() FROM system.columns WHERE database = 'sluice' AND table = 'events' AND name = 'txn__merchant_category'", (c) => c === 1);
});

test("missing reference: txn dead-letters with missing_reference; social (default) passes flagged", async ({ nc, pipeline }) => {
  await publishAll(nc, [
    payment(1_000, "m-nowhere"),
    { subject: "raw.social.u-2", body: JSON.stringify({ event_id: "post-u2", user_id: "u-2", topic: "t", text: "hello", ts: new Date(Date.now() - 30_000).toISOString() }) },
    { subject: "raw.social.u-1", body: JSON.stringify({ event_id: "post-u1", user_id: "u-1", topic: "t", text: "hello", ts: new Date(Date.now() - 30_000).toISOString() }) },
  ]);
  await until(pipeline, "SELECT count() FROM sluice.dead_letters WHERE error_code = 'missing_reference'", (c) => c === 1);
  const [letter] = await rows(pipeline, "SELECT reason FROM sluice.dead_letters WHERE error_code = 'missing_reference'");
  assert.match(String(letter.reason), /\/merchant_id: no merchants reference entry/);
  await until(pipeline, "SELECT count() FROM sluice.events WHERE source = 'social'", (c) => c === 2);
  const posts = Object.fromEntries((await rows(pipeline, "SELECT event_id, payload FROM sluice.events FINAL WHERE source = 'social'")).map((r) => [String(r.event_id), JSON.parse(String(r.payload))]));
  assert.is(posts["post-u2"].user_ref_missing, true);
  assert.is(posts["post-u1"].user_tier, "gold");
  assert.is(posts["post-u1"].user_ref_missing, undefined);
});

test("reference files: CSV and JSONL with line-numbered refusals; a reload is idempotent", async ({ nc }) => {
  const bad = parseReferences("sensors", "csv", "sensor_id,model,calibration\ns-1,TH-20,0.5\n,TH-20,0.1\ns-3,\"unterminated,1\ns-1,X,2");
  assert.equal(bad.errors.map((e) => e.line), [3, 4, 5]);
  const good = parseReferences("sensors", "csv", "sensor_id,model,calibration\ns-1,TH-20,0.5\ns-2,\"TH, 30\",-0.25\n");
  assert.equal(good.errors, []);
  assert.equal(good.rows.map((r) => r.fields), [{ model: "TH-20", calibration: 0.5 }, { model: "TH, 30", calibration: -0.25 }]);
  assert.equal(parseReferences("merchants", "jsonl", '{"merchant_id":"m-9","category":"fuel"}\nnot json\n[1]').errors.map((e) => e.line), [2, 3]);
  const kv = await openReferenceBucket(nc, "sensors");
  assert.equal(await writeReferences(kv, good.rows), { inserted: 2, updated: 0, unchanged: 0 });
  assert.equal(await writeReferences(kv, good.rows), { inserted: 0, updated: 0, unchanged: 2 });
  assert.equal(await writeReferences(kv, [{ key: "s-1", fields: { calibration: 0.5, model: "TH-21" } }, { key: "s-2", fields: { calibration: -0.25, model: "TH, 30" } }]), { inserted: 0, updated: 1, unchanged: 1 });
});

test("the generator's reference entries cover every entity its events name", () => {
  const gen = createGenerator({ seed: 5, sources: ["iot", "txn", "social"] });
  const events = gen.take(600);
  for (const source of ["iot", "txn", "social"] as const) {
    const kind = kindOfSource(source)!;
    const keys = new Set(gen.references(source).map((r) => r.key));
    const field = REFERENCE_KINDS[kind].keyField;
    const named = events.filter((e) => e.source === source).map((e) => String((e.payload as unknown as Record<string, unknown>)[field]));
    assert.ok(named.length > 0 && named.every((k) => keys.has(k)), `${kind}: every ${field} has an entry`);
    assert.equal(parseReferences(kind, "jsonl", gen.references(source).map((r) => JSON.stringify({ [field]: r.key, ...r.fields })).join("\n")).errors, [], `${kind}: ids are valid KV keys`);
  }
});

test.run();
