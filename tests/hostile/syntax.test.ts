import { bytes, freshKey, hostileSuite, reading, runCases, type Case } from "./corpus.ts";
import * as assert from "uvu/assert";

const test = hostileSuite("hostile: syntax and encoding");

const k = () => freshKey("syn");

test("malformed JSON → dead letter json, payload kept verbatim", async (ctx) => {
  const bodies = [`{"sensor_id":"x" "ts":1}`, `{sensor_id: "x"}`, `{"a":1}}`, `{'a':1}`, `{"a":01}`, `{"a":1,}`, `NaN`, `{"a":"\\x41"}`];
  await runCases(ctx, bodies.map((body, i): Case => ({
    name: `malformed ${i}`, subject: `raw.iot.${k()}`, body, expect: "json",
    check: (row) => assert.is(row.payload, body),
  })));
});

test("truncated JSON (a valid reading cut anywhere) → dead letter json", async (ctx) => {
  const key = k();
  const whole = reading(key);
  const cuts = [1, 5, 17, Math.floor(whole.length / 2), whole.length - 1];
  await runCases(ctx, cuts.map((n): Case => ({ name: `cut at ${n}`, subject: `raw.iot.${key}`, body: whole.slice(0, n), expect: "json" })));
});

test("non-object JSON (array, string, number, null, true) → dead letter not_object", async (ctx) => {
  await runCases(ctx, [`[1,2,3]`, `"text"`, `42`, `null`, `true`, `[]`].map((body): Case => ({ name: body, subject: `raw.iot.${k()}`, body, expect: "not_object" })));
});

test("empty payload → dead letter empty; whitespace only → json", async (ctx) => {
  await runCases(ctx, [
    { name: "empty", subject: `raw.iot.${k()}`, body: "", expect: "empty" },
    { name: "spaces", subject: `raw.iot.${k()}`, body: "   \n", expect: "json" },
  ]);
});

test("invalid UTF-8 → dead letter encoding (bytes land as U+FFFD); a BOM is stripped and accepted", async (ctx) => {
  const key = k();
  const valid = bytes(reading(key));
  const withBad = (bad: number[]) => {
    const out = new Uint8Array(valid.length + bad.length);
    out.set(valid.subarray(0, 15));
    out.set(bad, 15);
    out.set(valid.subarray(15), 15 + bad.length);
    return out;
  };
  const bomKey = k();
  await runCases(ctx, [
    { name: "0xff", subject: `raw.iot.${key}`, body: new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), expect: "encoding" },
    { name: "overlong", subject: `raw.iot.${key}`, body: withBad([0xc0, 0xaf]), expect: "encoding" },
    { name: "surrogate", subject: `raw.iot.${key}`, body: withBad([0xed, 0xa0, 0x80]), expect: "encoding" },
    { name: "cut sequence", subject: `raw.iot.${key}`, body: withBad([0xe2, 0x82]), expect: "encoding", check: (row) => assert.ok(row.payload.includes("\ufffd")) },
    { name: "BOM", subject: `raw.iot.${bomKey}`, body: `\ufeff${reading(bomKey)}`, expect: "event" },
  ]);
});

test.run();
