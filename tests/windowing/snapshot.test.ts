import { test } from "uvu";
import * as assert from "uvu/assert";
import { createWindowEngine, WindowSnapshotError, type EngineSnapshot, type Output } from "../../windowing/index.ts";
import { apply, readSteps, SCENARIOS, scenario, type Step } from "./harness.ts";

const plain = (x: unknown) => JSON.parse(JSON.stringify(x));

/** Runs `steps`, stopping after `cut` of them to snapshot, serialise and restore into a new engine. */
function runWithRestart(name: string, steps: Step[], cut: number): Output[] {
  const config = scenario(name).config;
  const first = createWindowEngine(config);
  const out = steps.slice(0, cut).flatMap((s) => apply(first, s));
  const saved: EngineSnapshot = JSON.parse(JSON.stringify(first.snapshot()));
  const second = createWindowEngine(config);
  second.restore(saved);
  return plain([...out, ...steps.slice(cut).flatMap((s) => apply(second, s))]);
}

for (const s of SCENARIOS) {
  test(`${s.name}: snapshot mid-stream, restore in a fresh engine, identical output`, () => {
    const steps = readSteps(s.name);
    const engine = createWindowEngine(s.config);
    const whole = plain(steps.flatMap((st) => apply(engine, st)));
    const every = steps.length > 40 ? 23 : 1;
    for (let cut = 1; cut < steps.length; cut += every) {
      assert.equal(runWithRestart(s.name, steps, cut), whole, `restart after step ${cut}`);
    }
  });
}

test("a snapshot survives JSON and restores to the same snapshot", () => {
  const steps = readSteps("session-merge");
  const config = scenario("session-merge").config;
  const a = createWindowEngine(config);
  steps.slice(0, 6).forEach((s) => apply(a, s));
  const text = JSON.stringify(a.snapshot());
  const b = createWindowEngine(config);
  b.restore(JSON.parse(text));
  assert.is(JSON.stringify(b.snapshot()), text);
  assert.is(b.watermark("iot"), a.watermark("iot"));
});

test("restore refuses a snapshot taken under another config", () => {
  const a = createWindowEngine(scenario("hopping").config);
  readSteps("hopping").forEach((s) => apply(a, s));
  const b = createWindowEngine(scenario("too-late").config);
  assert.throws(() => b.restore(a.snapshot()), (e: unknown) => e instanceof WindowSnapshotError && /config/.test(e.message));
  assert.throws(() => b.restore({ ...a.snapshot(), format: 2 } as unknown as EngineSnapshot), (e: unknown) => e instanceof WindowSnapshotError);
});

test.run();
