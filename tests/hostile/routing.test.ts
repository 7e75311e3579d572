import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { freshKey, hostileSuite, reading, runCases, stillRunning } from "./corpus.ts";
import { HEADERS } from "../../subjects/catalog.ts";

const test = hostileSuite("hostile: subjects, versions, times, ids");
const k = () => freshKey("rt");

test("unknown source subject → dead letter unknown_source; too few tokens → subject; outside raw.> → refused", async (ctx) => {
  const key = k();
  await runCases(ctx, [
    { name: "unknown source", subject: `raw.weather.${key}`, body: `{"ts":1}`, expect: "unknown_source", check: (r) => assert.match(r.reason, /unknown source "weather"/) },
    { name: "source case differs", subject: `raw.IOT.${key}`, body: reading(key), expect: "unknown_source" },
    { name: "no key token", subject: `raw.iot`, body: reading(key), expect: "subject" },
    { name: "no stream for it", subject: `rawx.iot.${key}`, body: reading(key), expect: "refused" },
  ]);
});

test("a core publish outside every stream is dropped by the broker; the pipeline does not notice", async (ctx) => {
  const nc = await connect({ servers: ctx.nats.url });
  nc.publish("nowhere.iot.x", "{}");
  await nc.flush();
  await nc.close();
  await stillRunning(ctx);
});

test("subject tokens with odd characters: the key is the token(s) verbatim, and must equal the key field", async (ctx) => {
  const odd = [`ü-ñ-日本-${k()}`, `a:b;c'd"e-${k()}`, `%20$x#y@z!-${k()}`, `multi.token.key.${k()}`, `\u00a0nbsp-${k()}`];
  await runCases(ctx, [
    ...odd.map((key) => ({ name: `key ${JSON.stringify(key)}`, subject: `raw.iot.${key}`, body: reading(key), expect: "event", check: (r: { key: string }) => assert.is(r.key, key) })),
    { name: "key field differs from the subject", subject: `raw.iot.${k()}`, body: reading("someone-else"), expect: "key_mismatch" },
  ]);
});

test("unknown schema version (Sluice-Schema-Version header) → dead letter unknown_schema_version", async (ctx) => {
  const key = k();
  await runCases(ctx, [
    { name: "v99", subject: `raw.iot.${key}`, body: reading(key), headers: { [HEADERS.schemaVersion]: "99" }, expect: "unknown_schema_version" },
    { name: "v1 stated", subject: `raw.iot.${key}`, body: reading(key), headers: { [HEADERS.schemaVersion]: "1" }, expect: "event" },
  ]);
});

test("ancient timestamps → dead letter dq_event_time_fresh; far-future → future_event_time (validate, before any watermark); a week old → accepted with a warning", async (ctx) => {
  const key = k();
  const weekAgo = new Date(Date.now() - 8 * 86_400_000).toISOString();
  await runCases(ctx, [
    { name: "year 1", subject: `raw.iot.${key}`, body: reading(key, { ts: "0001-01-01T00:00:00Z" }), expect: "dq_event_time_fresh", check: (r) => assert.match(r.reason, /before ingest/) },
    { name: "unix 1", subject: `raw.iot.${key}`, body: reading(key, { ts: 1 }), expect: "dq_event_time_fresh" },
    { name: "year 2200", subject: `raw.iot.${key}`, body: reading(key, { ts: "2200-01-01T00:00:00Z" }), expect: "future_event_time", check: (r) => assert.match(r.reason, /after ingest/) },
    { name: "19 digits", subject: `raw.iot.${key}`, body: reading(key, { ts: 9999999999999999999 }), expect: "future_event_time" },
    { name: "year 275760+", subject: `raw.iot.${key}`, body: reading(key, { ts: "+275761-01-01T00:00:00Z" }), expect: "schema" },
    { name: "not a date", subject: `raw.iot.${key}`, body: reading(key, { ts: "2026-13-45T99:00:00Z" }), expect: "schema" },
    { name: "eight days old", subject: `raw.iot.${key}`, body: reading(key, { ts: weekAgo }), expect: "event" },
  ]);
});

test("duplicate event ids: one event per id, whether by payload event_id or Nats-Msg-Id", async (ctx) => {
  const key = k();
  const id = `dup-${key}`;
  await runCases(ctx, [
    { name: "first", subject: `raw.iot.${key}`, body: reading(key, { event_id: id }), expect: "event", check: (r) => assert.is(r.event_id, id) },
    { name: "same event_id, other body", subject: `raw.iot.${key}`, body: reading(key, { event_id: id, temperature: 99 }), expect: "duplicate" },
    { name: "same event_id again", subject: `raw.iot.${key}`, body: reading(key, { event_id: id }), expect: "duplicate" },
    { name: "Nats-Msg-Id first", subject: `raw.iot.${key}`, body: reading(key), headers: { [HEADERS.msgId]: `h-${id}` }, expect: "event" },
  ]);
  // A repeated Nats-Msg-Id is refused by RAW's duplicate window itself: the PubAck says duplicate.
  const { jetstream } = await import("@nats-io/jetstream");
  const ack = await jetstream(ctx.nc).publish(`raw.iot.${key}`, reading(key), { msgID: `h-${id}` });
  assert.ok(ack.duplicate, "RAW dedupes a repeated Nats-Msg-Id");
  assert.is(await ctx.pipeline.scalar(`SELECT count() FROM sluice.events FINAL WHERE event_id IN ('${id}', 'h-${id}')`), 2);
});

test.run();
