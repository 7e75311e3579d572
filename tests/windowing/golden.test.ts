import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Output, WindowResult } from "../../windowing/index.ts";
import { readGolden, readSteps, run, SCENARIOS, scenario, type Step } from "./harness.ts";

function outputsOf(name: string): Output[] {
  return JSON.parse(JSON.stringify(run(scenario(name).config, readSteps(name))));
}

function assertMatchesGolden(name: string): void {
  const actual = outputsOf(name);
  const expected = readGolden(scenario(name).golden);
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    assert.equal(actual[i], expected[i], `${name}: output ${i} differs from tests/golden/windowing/${scenario(name).golden}.ndjson`);
  }
}

const rows = (outs: Output[]): WindowResult[] => outs.flatMap((o) => (o.type === "window" ? [o.row] : []));
const brief = (r: WindowResult) => `${r.key}/${r.window_start}-${r.window_end}/n${r.count}/v${r.version}`;

for (const s of SCENARIOS) {
  test(`${s.name} reproduces its golden file`, () => assertMatchesGolden(s.name));
}

test("shuffled input is a different arrival order of the same events", () => {
  const order = (steps: Step[]) => steps.map((s) => s.id).join(",");
  const inOrder = readSteps("in-order");
  const shuffled = readSteps("shuffled");
  assert.is.not(order(shuffled), order(inOrder));
  assert.equal([...shuffled.map((s) => s.id)].sort(), [...inOrder.map((s) => s.id)].sort());
});

test("in-order: every window fires once, ordered by window end", () => {
  const outs = outputsOf("in-order");
  assert.ok(outs.every((o) => o.type === "window"));
  const r = rows(outs);
  assert.ok(r.every((x) => x.version === 1));
  assert.equal(new Set(r.map((x) => x.window_id)).size, r.length);
  for (let i = 1; i < r.length; i++) assert.ok(r[i - 1].window_end <= r[i].window_end, `row ${i} out of order`);
  assert.equal(new Set(r.map((x) => x.kind)), new Set(["tumbling", "hopping", "session"]));
});

test("late within lateness: the window is re-emitted under the same id with the next version", () => {
  const r = rows(outputsOf("late-within-lateness"));
  assert.equal(r.map(brief), [
    "s1/0-60000/n1/v1",
    "s2/0-60000/n1/v1",
    "site=a/0-60000/n2/v1",
    "s1/0-60000/n2/v2",
    "site=a/0-60000/n3/v2",
    "s3/0-60000/n1/v1",
    "site=a/0-60000/n4/v3",
  ]);
  const siteIds = new Set(r.filter((x) => x.key === "site=a").map((x) => x.window_id));
  assert.is(siteIds.size, 1);
  assert.is(r[6].distinct_count, 3);
});

test("too late: the event comes back as a late output naming the closed windows", () => {
  const late = outputsOf("too-late").filter((o) => o.type === "late");
  assert.is(late.length, 2, "the redelivered too-late event is reported again, not dropped");
  for (const l of late) {
    assert.is(l.event_id, "a4");
    assert.is(l.reason, "beyond_allowed_lateness");
    assert.equal(l.windows.map((w) => `${w.kind}/${w.key}/${w.window_start}-${w.window_end}`), ["tumbling/s1/0-60000", "tumbling/site=a/0-60000"]);
    assert.is(l.event.payload.temperature, 99);
  }
  const s1 = rows(outputsOf("too-late")).find((x) => x.key === "s1" && x.window_start === 60_000);
  assert.is(s1?.count, 2, "the too-late reading of 99 is in no window");
});

test("duplicates: redeliveries inside open windows are ignored, after them reported late", () => {
  const outs = outputsOf("duplicates");
  const first = rows(outs).filter((x) => x.window_start === 0);
  assert.equal(first.map(brief), ["s1/0-60000/n1/v1", "s2/0-60000/n1/v1", "site=a/0-60000/n2/v1"]);
  const late = outs.filter((o) => o.type === "late");
  assert.equal(late.map((o) => o.event_id), ["a1"]);
});

test("idle partition: holds the watermark until the idle timeout, then stops holding it", () => {
  const steps = readSteps("idle-partition");
  const cfg = scenario("idle-partition").config;
  const tickAt = steps.findIndex((s) => s.tick && s.now === 22_001);
  assert.is(run(cfg, steps.slice(0, tickAt)).length, 0, "nothing fires while partition 1 is active");
  const r = rows(run(cfg, steps.slice(0, tickAt + 1)));
  assert.equal(r.map(brief), ["s1/0-60000/n1/v1", "s3/0-60000/n1/v1", "site=a/0-60000/n1/v1", "site=b/0-60000/n1/v1"]);
});

test("session merge: a late event bridging two emitted sessions retracts the later one", () => {
  const outs = outputsOf("session-merge");
  const retract = outs.find((o) => o.type === "retract");
  assert.ok(retract && retract.type === "retract");
  const first = rows(outs)[0];
  assert.is(retract.merged_into, first.window_id);
  assert.is(retract.row.version, 2);
  const merged = rows(outs).find((x) => x.version === 2 && x.window_id === first.window_id);
  assert.equal(merged && brief(merged), "s1/10000-110000/n5/v2");
  assert.is(merged?.mean, 26);
  const extended = rows(outs).at(-1);
  assert.equal(extended && brief(extended), "s1/112000-150000/n2/v2", "a late event just before a session extends it backwards");
});

test("hopping: one event lands in size/slide windows; a partly late event counts where it still can", () => {
  const outs = outputsOf("hopping");
  assert.equal(rows(outs).map(brief), [
    "site=a/-60000-60000/n1/v1",
    "site=a/0-120000/n2/v1",
    "site=a/0-120000/n3/v2",
    "site=a/60000-180000/n2/v1",
  ]);
  const late = outs.find((o) => o.type === "late");
  assert.equal(late?.type === "late" && late.windows.map((w) => w.window_start), [-60_000]);
});

test.run();
