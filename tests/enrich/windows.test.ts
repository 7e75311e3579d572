// Windows grouped by an enriched field: the ingest chain (validate → enrich → protect) feeds the
// window engine, whose config groups payments by merchant category and readings by sensor model.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createValidator } from "../../actors/validate/index.ts";
import { createEnricher, ReferenceCache } from "../../enrich/index.ts";
import { createWindowEngine, defaultWindowConfig, type WindowConfig, type WindowResult } from "../../windowing/index.ts";
import type { Inbound } from "../../subjects/message.ts";

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 11, 1, 10, 0);

const config: WindowConfig = {
  ...defaultWindowConfig,
  sources: {
    txn: {
      outOfOrdernessMs: 0, allowedLatenessMs: 0, idleTimeoutMs: 60_000,
      groups: [{ name: "customer" }, { name: "category", field: "merchant_category", distinct: "merchant_id" }],
      metrics: [{ name: "amount", field: "amount" }],
      windows: [{ kind: "tumbling", sizeMs: MINUTE, groups: ["category"] }],
    },
    iot: {
      outOfOrdernessMs: 0, allowedLatenessMs: 0, idleTimeoutMs: 60_000,
      groups: [{ name: "sensor" }, { name: "model", field: "sensor_model", distinct: "sensor_id" }],
      metrics: [{ name: "temperature", field: "temperature" }],
      windows: [{ kind: "tumbling", sizeMs: MINUTE, groups: ["model"] }],
    },
  },
};

let seq = 0;
const raw = (subject: string, body: Record<string, unknown>, at: number): Inbound => ({
  subject, stream: "RAW", seq: ++seq, deliveries: 1, timestampMs: at, headers: new Map(), data: new TextEncoder().encode(JSON.stringify(body)), traceId: "",
});

test("tumbling windows per merchant category and per sensor model, from enriched events", () => {
  const cache = new ReferenceCache();
  cache.set("merchants", "m-1", { fields: { category: "grocery" }, revision: 1 });
  cache.set("merchants", "m-2", { fields: { category: "grocery" }, revision: 2 });
  cache.set("merchants", "m-3", { fields: { category: "fuel" }, revision: 3 });
  cache.set("sensors", "s-1", { fields: { model: "TH-20" }, revision: 4 });
  cache.set("sensors", "s-2", { fields: { model: "TH-20" }, revision: 5 });
  const enrich = createEnricher(cache);
  const validate = createValidator({ partitions: 1, refine: (source, payload) => enrich(source, payload) });
  const engine = createWindowEngine(config);
  const inputs = [
    raw("raw.txn.c-1", { customer_id: "c-1", merchant_id: "m-1", amount: 10, currency: "EUR", ts: T0 + 1_000 }, T0 + 1_000),
    raw("raw.txn.c-2", { customer_id: "c-2", merchant_id: "m-2", amount: 5, currency: "EUR", ts: T0 + 2_000 }, T0 + 2_000),
    raw("raw.txn.c-1", { customer_id: "c-1", merchant_id: "m-3", amount: 60, currency: "EUR", ts: T0 + 3_000 }, T0 + 3_000),
    raw("raw.iot.s-1", { sensor_id: "s-1", temperature: 20, ts: T0 + 4_000 }, T0 + 4_000),
    raw("raw.iot.s-2", { sensor_id: "s-2", temperature: 24, ts: T0 + 5_000 }, T0 + 5_000),
    // These close the first minute.
    raw("raw.txn.c-9", { customer_id: "c-9", merchant_id: "m-3", amount: 1, currency: "EUR", ts: T0 + 2 * MINUTE }, T0 + 2 * MINUTE),
    raw("raw.iot.s-1", { sensor_id: "s-1", temperature: 1, ts: T0 + 2 * MINUTE }, T0 + 2 * MINUTE),
  ];
  const rows: WindowResult[] = [];
  for (const input of inputs) {
    const verdict = validate(input);
    assert.ok(verdict.ok, verdict.ok ? "" : verdict.error.message);
    if (verdict.ok) for (const out of engine.onEvent(verdict.envelope, 0, input.timestampMs)) if (out.type === "window") rows.push(out.row);
  }
  const at = (source: string, key: string) => rows.find((r) => r.source === source && r.key === key && r.window_start === T0);
  assert.equal([at("txn", "category=grocery")?.count, at("txn", "category=grocery")?.sum, at("txn", "category=grocery")?.distinct_count], [2, 15, 2]);
  assert.equal([at("txn", "category=fuel")?.count, at("txn", "category=fuel")?.sum], [1, 60]);
  assert.equal([at("iot", "model=TH-20")?.count, at("iot", "model=TH-20")?.mean, at("iot", "model=TH-20")?.distinct_count], [2, 22, 2]);
});

test.run();
