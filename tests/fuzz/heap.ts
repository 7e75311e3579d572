// Child process of tests/fuzz/validate.test.ts: the heap after a full collection, before and after
// `SLUICE_FUZZ_RUNS` payloads through validate and the quality gate. It needs --expose-gc: without
// a collection, heapUsed measures garbage, not what the stage keeps.
import fc from "fast-check";
import { createValidator } from "../../actors/validate/index.ts";
import { createQualityGate, loadSuites } from "../../quality/index.ts";
import { fuzzMessages, inbound } from "./payloads.ts";

export interface HeapReport {
  runs: number;
  beforeBytes: number;
  afterBytes: number;
}

const gc = globalThis.gc;
if (typeof gc !== "function") {
  console.error("tests/fuzz/heap.ts needs node --expose-gc: without it the heap bound measures nothing");
  process.exit(2);
}

const RUNS = Number(process.env.SLUICE_FUZZ_RUNS);
const SEED = Number(process.env.SLUICE_FUZZ_SEED);
const NOW = Number(process.env.SLUICE_FUZZ_NOW);
const WARM_UP = 10_000;
const validate = createValidator({ partitions: 4 });
const gate = createQualityGate(loadSuites());
const messages = fuzzMessages(NOW);
let seq = 0;
const run = (runs: number, seed: number) => {
  fc.assert(fc.property(messages, (m) => {
    const input = inbound(m, ++seq, NOW);
    gate.admit(input, validate(input));
  }), { numRuns: runs, seed });
};

// Warm up first: compiled code, caches and the gate's windows fill.
run(WARM_UP, SEED);
gc();
const beforeBytes = process.memoryUsage().heapUsed;
run(RUNS, SEED + 1);
gc();
const report: HeapReport = { runs: RUNS, beforeBytes, afterBytes: process.memoryUsage().heapUsed };
process.stdout.write(JSON.stringify(report));
