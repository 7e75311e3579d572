import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { createValidator } from "../../actors/validate/index.ts";
import { createQualityGate, loadSuites } from "../../quality/index.ts";
import type { Inbound } from "../../actors/runtime/actor.ts";

/**
 * Random and mutated payloads through the validate stage (schema, limits and the data-quality
 * gate), no broker: nothing throws, every input gets exactly one verdict, and the heap stays flat.
 * `SLUICE_FUZZ_RUNS` sets the number of payloads (default 100k, about half a minute); `npm run fuzz`
 * runs a million.
 */
const RUNS = Number(process.env.SLUICE_FUZZ_RUNS ?? 100_000);
const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? 20261127);

const validate = createValidator({ partitions: 4 });
const gate = createQualityGate(loadSuites(), { reporter: "fuzz" });
const encoder = new TextEncoder();
const now = Date.now();

const SEEDS = [
  { sensor_id: "s1", ts: new Date(now).toISOString(), temperature: 21.5, humidity: 40 },
  { user_id: "u1", topic: "weather", text: "hello", ts: Math.floor(now / 1000), lang: "en", likes: 3 },
  { customer_id: "c1", merchant_id: "m-1", amount: 12.5, currency: "EUR", ts: `${now}000000`, channel: "online", event_id: "e-1" },
];
const KEY_OF = ["s1", "u1", "c1"];
const SOURCES = ["iot", "social", "txn"];

const weird = fc.oneof(
  fc.constantFrom(null, true, false, 0, -0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 1, "", " ", "NaN", "Infinity", "1e999", "\u0000", "'; DROP TABLE x; --", "\ud800", [], {}, [[[]]]),
  fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.string({ unit: "binary" }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A valid-looking payload with fields replaced, removed or added. */
const mutated = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.array(fc.tuple(fc.constantFrom("sensor_id", "user_id", "customer_id", "ts", "temperature", "humidity", "text", "amount", "currency", "event_id", "lang", "likes", "extra", "__proto__", "constructor"), fc.option(weird)), { maxLength: 4 }))
  .map(([i, edits]) => {
    const body: Record<string, unknown> = { ...SEEDS[i] };
    for (const [field, value] of edits) {
      if (value === null) delete body[field];
      else Object.defineProperty(body, field, { value, enumerable: true, writable: true, configurable: true });
    }
    return { subject: `raw.${SOURCES[i]}.${KEY_OF[i]}`, data: encoder.encode(JSON.stringify(body)) };
  });

/** The bytes of a valid payload, cut, spliced or with bytes flipped. */
const corrupted = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.uint8Array({ maxLength: 8 }), fc.constantFrom("cut", "splice", "flip"))
  .map(([i, at, junk, how]) => {
    const whole = encoder.encode(JSON.stringify(SEEDS[i]));
    const p = at % (whole.length + 1);
    let data: Uint8Array;
    if (how === "cut") data = whole.subarray(0, p);
    else if (how === "splice") data = new Uint8Array([...whole.subarray(0, p), ...junk, ...whole.subarray(p)]);
    else data = whole.map((b, j) => (j >= p && j < p + junk.length ? b ^ (junk[j - p] || 1) : b));
    return { subject: `raw.${SOURCES[i]}.${KEY_OF[i]}`, data };
  });

const random = fc.tuple(fc.oneof(fc.constantFrom("raw.iot.s1", "raw.txn.c1", "raw.social.u1", "raw.x.y", "raw.iot", "raw", "raw.iot.a.b.c"), fc.string()), fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.json({ maxDepth: 4 }).map((s) => encoder.encode(s))))
  .map(([subject, data]) => ({ subject, data }));

const message = fc.oneof({ arbitrary: mutated, weight: 4 }, { arbitrary: corrupted, weight: 3 }, { arbitrary: random, weight: 2 },
  fc.nat({ max: 2_000 }).map((d) => ({ subject: "raw.iot.s1", data: encoder.encode(`{"sensor_id":"s1","ts":1,"temperature":1,"x":${"[".repeat(d)}${"]".repeat(d)}}`) })));

test(`${RUNS} random and mutated payloads: no throw, one verdict each, heap flat`, () => {
  let seq = 0;
  let accepted = 0;
  let rejected = 0;
  const codes = new Map<string, number>();
  const run = (runs: number, seed: number) => fc.assert(fc.property(message, ({ subject, data }) => {
    const input: Inbound = { subject, stream: "RAW", seq: ++seq, deliveries: 1, timestampMs: now, headers: new Map(), data, traceId: "" };
    const verdict = gate.admit(input, validate(input));
    if (verdict.ok) {
      accepted++;
      assert.type(verdict.out.data, "string");
      JSON.parse(verdict.out.data as string);
    } else {
      rejected++;
      assert.ok(verdict.error.code && verdict.error.message, "a rejection has a code and a reason");
      codes.set(verdict.error.code, (codes.get(verdict.error.code) ?? 0) + 1);
    }
  }), { numRuns: runs, seed });

  run(Math.min(10_000, RUNS), SEED); // warm up: compiled code, caches and the gate's windows fill
  gate.report(now);
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const counted = accepted + rejected;
  run(RUNS, SEED + 1);
  gate.report(now);
  global.gc?.();
  const after = process.memoryUsage().heapUsed;
  assert.is(accepted + rejected - counted, RUNS, "every input got exactly one verdict");
  assert.ok(accepted > RUNS / 50, `some inputs are accepted (${accepted})`);
  assert.ok(codes.size >= 8, `many kinds of rejection seen: ${[...codes.keys()].join(", ")}`);
  const growthMb = (after - before) / 1e6;
  assert.ok(growthMb < 64, `heap grew ${growthMb.toFixed(1)} MB over ${RUNS} payloads`);
  console.log(`fuzz: ${RUNS} payloads, ${accepted + rejected - counted} verdicts, codes ${JSON.stringify(Object.fromEntries(codes))}, heap ${growthMb.toFixed(1)} MB`);
});

test.run();
