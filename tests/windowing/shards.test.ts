import { suite } from "uvu";
import * as assert from "uvu/assert";
import { compileWindowConfig, groupShardOf, WindowConfigError, type Output } from "../../windowing/index.ts";
import { readSteps, run, SCENARIOS } from "./harness.ts";

const test = suite("windowing: group shards");

/** The rows and retractions as sortable lines; late outputs as one line per (event, missed window). */
function lines(outputs: Output[]): { rows: string[]; late: string[] } {
  const rows: string[] = [];
  const late: string[] = [];
  for (const o of outputs) {
    if (o.type === "late") for (const w of o.windows) late.push(JSON.stringify([o.event_id, o.watermark, w]));
    else rows.push(JSON.stringify(o));
  }
  return { rows: rows.sort(), late: late.sort() };
}

for (const scenario of SCENARIOS) {
  test(`${scenario.name}: the shards together emit exactly what one unsharded engine does, each window in one shard`, () => {
    const steps = readSteps(scenario.name);
    const whole = lines(run(scenario.config, steps));
    assert.ok(whole.rows.length > 0, "the scenario emits rows");
    for (const count of [1, 2, 3]) {
      const shards = Array.from({ length: count }, (_, index) => lines(run({ ...scenario.config, groupShard: { count, index } }, steps)));
      assert.equal(shards.flatMap((s) => s.rows).sort(), whole.rows, `${count} shards: window rows and retractions`);
      assert.equal(shards.flatMap((s) => s.late).sort(), whole.late, `${count} shards: late outputs and the windows they missed`);
      shards.forEach((s, index) => {
        for (const line of s.rows) {
          const { key } = (JSON.parse(line) as { row: { key: string } }).row;
          assert.is(groupShardOf(key, count), index, `${count} shards: window key ${key} emitted by shard ${index}`);
        }
      });
    }
  });
}

test("in-order: three shards each get windows (the split is not all in one)", () => {
  const scenario = SCENARIOS.find((s) => s.name === "in-order")!;
  const steps = readSteps(scenario.name);
  const counts = [0, 1, 2].map((index) => lines(run({ ...scenario.config, groupShard: { count: 3, index } }, steps)).rows.length);
  assert.ok(counts.filter((n) => n > 0).length >= 2, `rows per shard: ${counts.join(", ")}`);
});

test("a shard outside its count is a config error naming the field", () => {
  const config = SCENARIOS[0].config;
  assert.throws(() => compileWindowConfig({ ...config, groupShard: { count: 2, index: 2 } }), (err: unknown) => err instanceof WindowConfigError && err.path === "groupShard.index");
  assert.throws(() => compileWindowConfig({ ...config, groupShard: { count: 0, index: 0 } }), (err: unknown) => err instanceof WindowConfigError && err.path === "groupShard.count");
});

test.run();
