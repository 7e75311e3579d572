import { test } from "uvu";
import * as assert from "uvu/assert";
import { boundedShuffle, firstDifference, generateStream, run, scenario } from "./harness.ts";

const config = scenario("in-order").config;
const bound = config.sources.iot?.outOfOrdernessMs ?? 0;
const outputs = (steps: ReturnType<typeof generateStream>) => run(config, steps);

test("random shuffles within the out-of-orderness bound give identical window results", () => {
  for (const streamSeed of [7, 11]) {
    const stream = generateStream(streamSeed);
    const expected = outputs(stream);
    assert.ok(expected.length > 100);
    for (let seed = 1; seed <= 15; seed++) {
      const shuffled = boundedShuffle(stream, bound, seed * 7919 + streamSeed);
      const got = outputs(shuffled);
      const at = firstDifference(got, expected);
      assert.is(at, -1, `stream ${streamSeed}, shuffle seed ${seed}: output ${at} is ${JSON.stringify(got[at])}, expected ${JSON.stringify(expected[at])}`);
    }
  }
});

test("the property can fail: disorder beyond the bound changes the results", () => {
  const stream = generateStream(7);
  const expected = outputs(stream);
  const tooShuffled = boundedShuffle(stream, bound * 12, 3);
  const got = outputs(tooShuffled);
  assert.is.not(firstDifference(got, expected), -1);
  assert.ok(got.some((o) => o.type === "late" || (o.type === "window" && o.row.version > 1)), "events beyond the bound arrive late");
});

test.run();
