import * as assert from "uvu/assert";
import { freshKey, hostileSuite, reading, recent, runCases, type Case } from "./corpus.ts";

const test = hostileSuite("hostile: values");
const k = () => freshKey("val");

test("wrong types → dead letter schema naming the field", async (ctx) => {
  const key = k();
  const cust = k();
  await runCases(ctx, [
    { name: "temperature string", subject: `raw.iot.${key}`, body: reading(key, { temperature: "warm" }), expect: "schema", check: (r) => assert.match(r.reason, /\/temperature/) },
    { name: "ts boolean", subject: `raw.iot.${key}`, body: reading(key, { ts: true }), expect: "schema", check: (r) => assert.match(r.reason, /\/ts/) },
    { name: "sensor_id number", subject: `raw.iot.5`, body: reading("x", { sensor_id: 5 }), expect: "schema", check: (r) => assert.match(r.reason, /\/sensor_id/) },
    { name: "amount as object", subject: `raw.txn.${cust}`, body: JSON.stringify({ customer_id: cust, merchant_id: "m", amount: { v: 1 }, currency: "EUR", ts: recent() }), expect: "schema" },
    { name: "likes negative", subject: `raw.social.${cust}`, body: JSON.stringify({ user_id: cust, topic: "t", text: "x", ts: recent(), likes: -1 }), expect: "schema" },
  ]);
});

test("missing required fields → dead letter schema saying which", async (ctx) => {
  const key = k();
  const cust = k();
  await runCases(ctx, [
    { name: "no ts", subject: `raw.iot.${key}`, body: JSON.stringify({ sensor_id: key, temperature: 1 }), expect: "schema", check: (r) => assert.match(r.reason, /missing required field "ts"/) },
    { name: "no metric", subject: `raw.iot.${key}`, body: JSON.stringify({ sensor_id: key, ts: recent() }), expect: "schema" },
    { name: "no currency", subject: `raw.txn.${cust}`, body: JSON.stringify({ customer_id: cust, merchant_id: "m", amount: 3, ts: recent() }), expect: "schema", check: (r) => assert.match(r.reason, /currency/) },
    { name: "key field missing", subject: `raw.social.${cust}`, body: JSON.stringify({ topic: "t", text: "x", ts: recent() }), expect: "schema" },
  ]);
});

test("unknown extra fields → accepted, kept verbatim in the payload", async (ctx) => {
  const key = k();
  await runCases(ctx, [
    { name: "extra", subject: `raw.iot.${key}`, body: reading(key, { firmware: "1.2.3", nested: { a: [1, 2] }, "weird key \u00e9": true }), expect: "event",
      check: (r) => assert.equal(JSON.parse(r.payload).nested, { a: [1, 2] }) },
    { name: "__proto__ key", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":1,"__proto__":{"polluted":true}}`, expect: "event",
      check: () => assert.is(({} as Record<string, unknown>).polluted, undefined) },
  ]);
});

test("NaN, Infinity, huge numbers, numeric strings", async (ctx) => {
  const key = k();
  await runCases(ctx, [
    { name: "NaN literal", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":NaN}`, expect: "json" },
    { name: "Infinity literal", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":Infinity}`, expect: "json" },
    { name: "1e999 overflows to Infinity", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":1e999}`, expect: "number_range", check: (r) => assert.match(r.reason, /\/temperature/) },
    { name: "-1e999 in an extra field", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":1,"x":[-1e999]}`, expect: "number_range" },
    { name: "1e308 is finite: accepted, flagged by temperature_plausible", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":1e308}`, expect: "event",
      check: (r) => assert.is(JSON.parse(r.payload).temperature, 1e308) },
    { name: "numeric string for a number", subject: `raw.iot.${key}`, body: reading(key, { temperature: "21.5" }), expect: "schema" },
    { name: "numeric string ts is a time", subject: `raw.iot.${key}`, body: reading(key, { ts: String(Math.floor(Date.now() / 1000)) }), expect: "event" },
    { name: "integer beyond 2^53 in an extra field", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":1,"big":123456789012345678901234567890}`, expect: "event" },
    { name: "txn amount over a billion", subject: `raw.txn.${key}`, body: JSON.stringify({ customer_id: key, merchant_id: "m", amount: 5e12, currency: "EUR", ts: recent() }), expect: "dq_amount_finite",
      check: (r) => assert.match(r.reason, /expected a number from -1000000000 to 1000000000, got 5000000000000/) },
  ]);
});

test("deeply nested objects → dead letter too_deep past 64 levels; 60 levels accepted", async (ctx) => {
  const key = k();
  const nest = (depth: number, open: string, close: string) => `${open.repeat(depth)}1${close.repeat(depth)}`;
  await runCases(ctx, [
    { name: "arrays 100k deep", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":1,"x":${nest(100_000, "[", "]")}}`, expect: "too_deep" },
    { name: "objects 5k deep", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":1,"x":${nest(5_000, '{"a":', "}")}}`, expect: "too_deep" },
    { name: "60 deep", subject: `raw.iot.${key}`, body: `{"sensor_id":"${key}","ts":"${recent()}","temperature":1,"x":${nest(60, "[", "]")}}`, expect: "event" },
  ]);
});

const HOSTILE_STRINGS = [
  "'; DROP TABLE sluice.events; --",
  "\\'); INSERT INTO sluice.events VALUES (1); --",
  "\u0000\u0001\u0002\u0007\b\t\n\u000b\f\r\u001b[31m\u007f",
  "\" OR 1=1 --",
  "{\"json\": \"inside\"}",
  "\\\\\\",
  "\u2028\u2029\ud83d\ude00 \u202e",
  "$(rm -rf /) `id` %s %n {{.}} ${x}",
];

test("control characters and SQL-looking strings in every string field land verbatim", async (ctx) => {
  const cases: Case[] = [];
  HOSTILE_STRINGS.forEach((s, i) => {
    const key = `${k()}-${i}`;
    const payload = { user_id: key, topic: s, text: s, ts: recent(), lang: undefined, post_id: s, evil: s };
    cases.push({ name: `social ${JSON.stringify(s)}`, subject: `raw.social.${key}`, body: JSON.stringify(payload), expect: "event",
      check: (r) => {
        const stored = JSON.parse(r.payload);
        for (const f of ["topic", "text", "post_id", "evil"]) assert.is(stored[f], s, f);
      } });
    const cust = `${k()}-t${i}`;
    cases.push({ name: `txn ${JSON.stringify(s)}`, subject: `raw.txn.${cust}`, body: JSON.stringify({ customer_id: cust, merchant_id: s, amount: 1, currency: "EUR", ts: recent(), txn_id: `${s}-${i}`, note: s }), expect: "event",
      check: (r) => assert.is(JSON.parse(r.payload).merchant_id, s) });
  });
  const key = k();
  // A SQL-looking string that is also a valid subject token, as the key itself.
  const sqlKey = `x';DROP-TABLE-sluice_events;--${k()}`;
  cases.push({ name: "SQL in the key", subject: `raw.iot.${sqlKey}`, body: reading(sqlKey), expect: "event", check: (r) => assert.is(r.key, sqlKey) });
  cases.push({ name: "control characters in event_id → dead letter event_id", subject: `raw.iot.${key}`, body: reading(key, { event_id: "a\r\nNats-Msg-Id: forged" }), expect: "event_id" });
  cases.push({ name: "SQL in a schema-rejected field lands verbatim in dead_letters", subject: `raw.iot.${key}`, body: reading(key, { temperature: HOSTILE_STRINGS[0] }), expect: "schema",
    check: (r) => assert.is(JSON.parse(r.payload).temperature, HOSTILE_STRINGS[0]) });
  await runCases(ctx, cases);
});

test.run();
