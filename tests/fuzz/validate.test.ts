import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { createValidator, type Verdict } from "../../actors/validate/index.ts";
import { createQualityGate, loadSuites } from "../../quality/index.ts";
import { partitionOf, subject } from "../../subjects/catalog.ts";
import { fuzzMessages, inbound, PII_VALUES } from "./payloads.ts";
import type { HeapReport } from "./heap.ts";

/**
 * Random and mutated payloads through the validate stage (schema, limits and the data-quality
 * gate), no broker: the stage never throws; an accepted payload is the envelope it publishes and
 * validates again to the same envelope; a rejection has a known code, says where (stream and
 * sequence) and never shows a PII value; and the heap, measured after full collections in a child
 * process with --expose-gc, stays flat. `SLUICE_FUZZ_RUNS` sets the number of payloads (default
 * 30k, a few seconds, for each half); `npm run fuzz` runs a million.
 */
const RUNS = Number(process.env.SLUICE_FUZZ_RUNS ?? 30_000);
const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? 20261127);
/** Ingest time of every message, and the event time of the valid payloads mutations start from. */
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const PARTITIONS = 4;
/** Heap the stage may keep per payload: the gate's bounded windows, far below a payload (≥ 300 bytes with its envelope). */
const HEAP_BYTES_PER_PAYLOAD = 64;
const HEAP_SLACK_BYTES = 8e6;

/** The codes actors/validate rejects with; the gate adds `dq_<name>` for its `reject` expectations. */
const VALIDATE_CODES = [
  "subject", "unknown_source", "empty", "encoding", "json", "not_object", "too_deep", "number_range", "event_id",
  "unknown_schema_version", "schema_version_conflict", "schema", "upcast", "key_mismatch", "event_time", "future_event_time",
];
const suites = loadSuites();
const KNOWN_CODES = new Set([
  ...VALIDATE_CODES,
  ...Object.values(suites).flatMap((s) => s.expectations.filter((e) => e.severity === "reject").map((e) => `dq_${e.name}`)),
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Every 8 characters of a PII value: a rejection quoting a fragment of one is a leak too. */
const PII_PIECES = PII_VALUES.flatMap((v) => Array.from({ length: v.length - 7 }, (_, i) => v.slice(i, i + 8)));
const piiIn = (text: string) => PII_PIECES.find((p) => text.includes(p));

function assertRejection(verdict: Verdict, seq: number) {
  if (verdict.ok) return;
  const { error } = verdict;
  assert.is(error.name, "PoisonError");
  assert.ok(KNOWN_CODES.has(error.code), `code ${JSON.stringify(error.code)} is not one the stage documents`);
  assert.ok(error.message.includes(`(stream RAW seq ${seq})`), `the reason names stream and sequence: ${error.message.slice(0, 200)}`);
  assert.ok(error.field === undefined || error.field.startsWith("/"), `field ${JSON.stringify(error.field)} is a JSON pointer`);
  const leaked = piiIn(`${error.message} ${error.field ?? ""}`);
  assert.is(leaked, undefined, `${error.code} rejection shows PII ${JSON.stringify(leaked)}`);
}

test(`${RUNS} random and mutated payloads: accepted ones validate again to the same envelope, rejections say where and show no PII`, () => {
  const validate = createValidator({ partitions: PARTITIONS });
  const gate = createQualityGate(suites);
  let seq = 0;
  let accepted = 0;
  let rejectedWithPii = 0;
  const codes = new Map<string, number>();
  fc.assert(fc.property(fuzzMessages(NOW), (m) => {
    const input = inbound(m, ++seq, NOW);
    const validated = validate(input);
    const verdict = gate.admit(input, validated);
    if (!verdict.ok) {
      assertRejection(verdict, seq);
      codes.set(verdict.error.code, (codes.get(verdict.error.code) ?? 0) + 1);
      if (piiIn(decoder.decode(m.data))) rejectedWithPii++;
      return;
    }
    accepted++;
    assert.ok(validated.ok, "the gate accepts only what validate accepted");
    const { envelope, out } = verdict;
    assert.is(out.data, JSON.stringify(envelope), "EVENTS gets exactly the envelope");
    assert.is(subject.raw(envelope.source, envelope.key), input.subject);
    assert.is(out.subject, subject.events(envelope.source, partitionOf(envelope.key, PARTITIONS)));
    assert.is(envelope.raw_seq, seq);
    assert.is(envelope.ingest_time, NOW);
    // What EVENTS carries is a valid payload: the same message with it validates to the same envelope.
    const again = validate(inbound({ subject: input.subject, data: encoder.encode(JSON.stringify(envelope.payload)) }, seq, NOW));
    assert.ok(again.ok, `the accepted payload validates again: ${again.ok ? "" : again.error.message}`);
    if (again.ok && validated.ok) {
      // As JSON text: a payload may carry a "constructor" field, which deep-equal helpers misread.
      assert.is(JSON.stringify(again.envelope), JSON.stringify(envelope));
      assert.is(JSON.stringify(again.out), JSON.stringify(validated.out));
    }
  }), { numRuns: RUNS, seed: SEED });

  // The run exercised what it claims to: acceptances, many kinds of rejection, rejections of PII-carrying payloads.
  assert.ok(accepted > RUNS / 50, `some inputs are accepted (${accepted})`);
  assert.ok(codes.size >= 8, `many kinds of rejection seen: ${[...codes.keys()].join(", ")}`);
  assert.ok(rejectedWithPii > RUNS / 100, `rejected payloads carrying PII: ${rejectedWithPii}`);
  console.log(`fuzz: ${RUNS} payloads, ${accepted} accepted, ${rejectedWithPii} PII-carrying rejected, codes ${JSON.stringify(Object.fromEntries(codes))}`);
});

test("a rejected payment shows neither its card number nor its email, whether the schema or the JSON is wrong", () => {
  const validate = createValidator({ partitions: PARTITIONS });
  const payment = { customer_id: "c1", merchant_id: "m-1", amount: 1, currency: "EUR", ts: NOW, card_number: "4929 1234 5678 9012", email: "ann.lee(at)example.com" };
  const text = JSON.stringify(payment);
  const cases = [text, text.slice(0, text.indexOf("4929") + 9), text.replace('"ann.lee', '"ann.lee\u0001'), text.replace('"email":"', '"email":x"')];
  cases.forEach((body, i) => {
    const verdict = validate(inbound({ subject: "raw.txn.c1", data: encoder.encode(body) }, i + 1, NOW));
    assert.not.ok(verdict.ok, body);
    assertRejection(verdict, i + 1);
  });
});

test(`the heap stays flat over ${RUNS} payloads after a full collection (child process with --expose-gc)`, () => {
  const child = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", fileURLToPath(new URL("./heap.ts", import.meta.url))], {
    env: { ...process.env, SLUICE_FUZZ_RUNS: String(RUNS), SLUICE_FUZZ_SEED: String(SEED), SLUICE_FUZZ_NOW: String(NOW) },
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.is(child.status, 0, `heap child exited ${child.status} (${child.signal ?? "no signal"}): ${child.stderr.slice(-2_000)}`);
  const report = JSON.parse(child.stdout) as HeapReport;
  assert.is(report.runs, RUNS);
  const growth = report.afterBytes - report.beforeBytes;
  const bound = HEAP_SLACK_BYTES + HEAP_BYTES_PER_PAYLOAD * RUNS;
  assert.ok(growth < bound, `heap grew ${(growth / 1e6).toFixed(1)} MB over ${RUNS} payloads; at most ${(bound / 1e6).toFixed(1)} MB`);
  console.log(`fuzz heap: ${(report.beforeBytes / 1e6).toFixed(1)} MB → ${(report.afterBytes / 1e6).toFixed(1)} MB over ${RUNS} payloads`);
});

test.run();
