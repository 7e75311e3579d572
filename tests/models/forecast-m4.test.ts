import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatM4, intervalScore, readM4 } from "../../models/forecast/m4.ts";

const repo = new URL("../..", import.meta.url).pathname;
const m4 = join(repo, "../shared/m4");
const bin = join(repo, "bin/sluice.js");
const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });

test("readM4 and formatM4: quoted ids, a header, blank trailing cells", () => {
  const rows = readM4('"V1","V2","V3","V4"\n"H1",1,2.5,""\n"H2",3,4,5\n');
  assert.equal(rows, [{ id: "H1", values: [1, 2.5] }, { id: "H2", values: [3, 4, 5] }]);
  assert.is(formatM4([{ id: "H1", values: [1, 2] }]), "id,F1,F2\nH1,1,2\n");
  assert.throws(() => readM4('"H1",1,x\n'), (e: Error) => e.name === "M4FormatError" && /series H1/.test(e.message));
});

test("sluice eval forecast --m4 on every 20th M4 Hourly series: files in the M4 layout that score.py scores, intervals around the means, better than Naive2", () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-m4-"));
  try {
    // 21 series of the training file; score.py split keeps their last 48 points as actuals.
    const some = readM4(readFileSync(join(m4, "Hourly-train.csv"), "utf8")).filter((_, i) => i % 20 === 0);
    writeFileSync(join(dir, "train.csv"), some.map((s) => [s.id, ...s.values].join(",")).join("\n") + "\n");
    const split = run("python3", [join(m4, "score.py"), "split", "--train", join(dir, "train.csv"), "--horizon", "48", "--out", dir]);
    assert.is(split.status, 0, split.stderr);
    const out = join(dir, "F.csv");
    const made = run(process.execPath, [bin, "eval", "forecast", "--m4", join(dir, "history.csv"), "--horizon", "48", "--out", out, "--actuals", join(dir, "actuals.csv")]);
    assert.is(made.status, 0, made.stderr);
    assert.match(made.stdout, /21 series, horizon 48, 95% intervals/);
    const coverage = Number(/coverage ([\d.]+)/.exec(made.stdout)?.[1]);
    assert.ok(coverage > 0.8 && coverage <= 1, made.stdout);
    const [mean, lower, upper] = [out, join(dir, "F-lower.csv"), join(dir, "F-upper.csv")].map((f) => readM4(readFileSync(f, "utf8")));
    assert.equal(mean.map((r) => r.id), some.map((s) => s.id));
    assert.match(readFileSync(out, "utf8").split("\n")[0], /^id,F1,F2,.*,F48$/);
    mean.forEach((r, i) => {
      assert.is(r.values.length, 48);
      r.values.forEach((y, k) => assert.ok(lower[i].values[k] < y && y < upper[i].values[k], `${r.id} F${k + 1}`));
    });
    const scored = run("python3", [join(m4, "score.py"), "score", "--history", join(dir, "history.csv"), "--actuals", join(dir, "actuals.csv"), "--forecasts", out]);
    assert.is(scored.status, 0, scored.stderr);
    const owa = Number(/forecasts .* OWA\s+([\d.]+)/.exec(scored.stdout)?.[1]);
    assert.ok(owa > 0 && owa < 1, scored.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("intervalScore: coverage, MSIS and the scale that would make the intervals nominal, by hand", () => {
  // Period 1, history 0,1,2,3: the naive scale is 1. Mean 10, interval [9, 11] at 50%.
  const history = new Map([["a", [0, 1, 2, 3]]]);
  const actuals = new Map([["a", [10, 12, 9.5, 10]]]);
  const mean = new Map([["a", [10, 10, 10, 10]]]);
  const s = intervalScore(history, actuals, mean, new Map([["a", [9, 9, 9, 9]]]), new Map([["a", [11, 11, 11, 11]]]), { level: 0.5, period: 1 });
  assert.is(s.coverage, 0.75);
  // Widths 2 each; the one miss is 1 above the upper bound: 2/α·1 = 4. (4·2 + 4) / 4 / 1 = 3.
  assert.is(s.msis, 3);
  assert.is(s.width, 2);
  // Distances over reach: 0, 2, 0.5, 0. For 75% inside, the 3rd smallest: intervals half as wide would do.
  const lower = new Map([["a", [9, 9, 9, 9]]]);
  const upper = new Map([["a", [11, 11, 11, 11]]]);
  assert.is(intervalScore(history, actuals, mean, lower, upper, { level: 0.75, period: 1 }).neededScale, 0.5);
});

test("sluice eval forecast --m4 needs --out", () => {
  const r = run(process.execPath, [bin, "eval", "forecast", "--m4", "x.csv"]);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--out F\.csv/);
});

test.run();
