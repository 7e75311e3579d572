// Rewrites the generated windowing fixtures (in-order, shuffled) and every golden file from what
// the engine produces now. Review the diff by hand before committing: a golden file is only worth
// something if a person has checked it.
//
//   node --import tsx tests/windowing/regenerate.ts
import { writeFileSync } from "node:fs";
import { boundedShuffle, fixturePath, generateStream, goldenPath, readSteps, run, SCENARIOS, toNdjson } from "./harness.ts";

const inOrder = generateStream();
writeFileSync(fixturePath("in-order"), toNdjson(inOrder));
writeFileSync(fixturePath("shuffled"), toNdjson(boundedShuffle(inOrder, 5_000, 42)));

for (const s of SCENARIOS) {
  if (s.golden !== s.name) continue;
  const outputs = run(s.config, readSteps(s.name));
  writeFileSync(goldenPath(s.name), toNdjson(outputs));
  console.log(`${s.name}: ${outputs.length} outputs`);
}
