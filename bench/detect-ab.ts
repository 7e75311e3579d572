// Cold detection of two or more trees in one process, per CPU-second: each tree's
// actors/detect/detection.ts is imported from its own checkout, so each has its own modules and
// compiles cold; the envelopes come from a further checkout (`--envelopes-from`), because the tree
// that shares the generator's modules was seen to run ~10% slower in first place. Run it with the
// order alternated (A,B then B,A) and compare like positions: a later pass gains from the first.
//   git worktree add ../before <commit> && ln -s "$PWD/node_modules" ../before/node_modules  (and ../gen likewise)
//   node --import tsx bench/detect-ab.ts --trees ../before,. --envelopes-from ../gen
//   node --import tsx bench/detect-ab.ts --trees .,../before --envelopes-from ../gen
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { createDetection as CreateDetection, toEnvelope as ToEnvelope } from "../actors/detect/index.ts";
import type { createGenerator as CreateGenerator } from "../actors/generate/index.ts";

const { values } = parseArgs({ options: { trees: { type: "string" }, "envelopes-from": { type: "string" }, events: { type: "string", default: "50000" } } });
if (!values.trees || !values["envelopes-from"]) {
  console.error("usage: detect-ab --trees DIR,DIR[,…] --envelopes-from DIR [--events N]");
  process.exit(2);
}
const from = (dir: string, path: string) => pathToFileURL(resolve(dir, path)).href;
const gen = values["envelopes-from"];
const { createGenerator } = (await import(from(gen, "actors/generate/index.ts"))) as { createGenerator: typeof CreateGenerator };
const { toEnvelope } = (await import(from(gen, "actors/detect/eval.ts"))) as { toEnvelope: typeof ToEnvelope };
const events = Number(values.events);
const envelopes = createGenerator({ seed: 1, sources: ["iot", "social", "txn"], anomalyRate: 0.02, intervalMs: 500 }).take(events).map((e, i) => toEnvelope(e, i + 1));
const out: string[] = [];
for (const tree of values.trees.split(",")) {
  const { createDetection } = (await import(from(tree, "actors/detect/detection.ts"))) as { createDetection: typeof CreateDetection };
  const detection = createDetection();
  const cpu0 = process.cpuUsage();
  for (const e of envelopes) detection.observe(e, "");
  const used = process.cpuUsage(cpu0);
  out.push(`${tree} ${Math.round(events / ((used.user + used.system) / 1e6))}`);
}
console.log(`cold detection, events per CPU-second: ${out.join(", ")} (load ${loadavg()[0].toFixed(1)})`);
