import { test } from "uvu";
import * as assert from "uvu/assert";
import { diffRows, toRow } from "../harness/run-snapshot.ts";

// The chaos test's verdicts rest on this comparison: it must see every kind of difference.
const floats = new Set(["stddev"]);
const row = (key: string, count: number, stddev: number) => toRow({ key, count, stddev }, floats);

test("equal multisets in any order, floats within 1e-9 relative: no difference", () => {
  const a = [row("a", 1, 0.15207777177), row("b", 2, 3), row("b", 2, 3)];
  const b = [row("b", 2, 3), row("a", 1, 0.152077771769), row("b", 2, 3)];
  assert.is(diffRows(a, b), undefined);
});

test("a missing row, a repeated row, an exact cell changed, a float beyond 1e-9: each reported", () => {
  assert.match(diffRows([row("a", 1, 1), row("b", 1, 1)], [row("a", 1, 1)]) ?? "", "1 only in fault-free, 0 only in faulted");
  assert.match(diffRows([row("a", 1, 1)], [row("a", 1, 1), row("a", 1, 1)]) ?? "", "0 only in fault-free, 1 only in faulted");
  assert.match(diffRows([row("a", 1, 1)], [row("a", 2, 1)]) ?? "", "1 only in fault-free, 1 only in faulted");
  assert.match(diffRows([row("a", 1, 1)], [row("a", 1, 1 + 1e-8)]) ?? "", "1 only in fault-free, 1 only in faulted");
});

test("the diff shows the differing rows themselves", () => {
  const diff = diffRows([row("only-left", 1, 1)], [row("only-right", 1, 1)]) ?? "";
  assert.match(diff, `- fault-free: {"count":1,"key":"only-left"} floats [1]`);
  assert.match(diff, `+ faulted: {"count":1,"key":"only-right"} floats [1]`);
});

test.run();
