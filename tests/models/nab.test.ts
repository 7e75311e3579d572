import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crossValidate, evalNab, publicSplits, readNabCsv, scoreNab } from "../../models/anomaly/index.ts";

const repo = new URL("../..", import.meta.url).pathname;
const dataDir = join(repo, "../shared/nab/data");
const ONLY = ["art_daily_jumpsup", "exchange-3_cpc_results", "iio_us-east-1"];

test("evalNab mirrors the data layout with timestamp,value,anomaly_score rows in [0, 1]", () => {
  const outDir = mkdtempSync(join(tmpdir(), "nab-test-"));
  try {
    const run = evalNab({ dataDir, outDir, only: ONLY });
    assert.equal(run.files.map((f) => f.path), [
      "artificialWithAnomaly/art_daily_jumpsup.csv",
      "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
      "realAdExchange/exchange-3_cpc_results.csv",
    ]);
    assert.equal(readdirSync(outDir).sort(), ["artificialWithAnomaly", "realAWSCloudwatch", "realAdExchange"]);
    for (const f of run.files) {
      const input = readNabCsv(join(dataDir, f.path));
      const lines = readFileSync(join(outDir, f.path), "utf8").trimEnd().split("\n");
      assert.is(lines[0], "timestamp,value,anomaly_score");
      assert.is(lines.length - 1, input.times.length, f.path);
      assert.is(f.rows, input.times.length);
      lines.slice(1).forEach((line, i) => {
        const [ts, value, score] = line.split(",");
        assert.is(ts, input.timestamps[i]);
        assert.is(Number(value), input.values[i]);
        const s = Number(score);
        assert.ok(s >= 0 && s <= 1, `${f.path} row ${i}: score ${score}`);
      });
      assert.ok(f.maxScore > 0 && f.maxScore <= 1, `${f.path}: max score ${f.maxScore}`);
    }
    // The jump in art_daily_jumpsup is the strongest alert of that series (NAB window starts at row 2787).
    const jumps = readFileSync(join(outDir, run.files[0].path), "utf8").trimEnd().split("\n").slice(1).map((l) => Number(l.split(",")[2]));
    const peak = jumps.indexOf(Math.max(...jumps.slice(605)), 605);
    assert.ok(peak >= 2787 && peak <= 3189, `strongest alert at row ${peak}`);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

test("CV scores each fold at the threshold swept on the others and pools the held-out raw scores", () => {
  const resultsDir = mkdtempSync(join(tmpdir(), "nab-cv-test-"));
  try {
    const folds = [
      { heldOut: "one", series: ["artificialWithAnomaly/art_daily_jumpsup.csv", "realAdExchange/exchange-3_cpc_results.csv"] },
      { heldOut: "two", series: ["realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv", "artificialWithAnomaly/art_daily_flatmiddle.csv"] },
    ];
    evalNab({ dataDir, outDir: resultsDir, only: folds.flatMap((f) => f.series.map((s) => s.split("/")[1])) });
    const setup = { scorer: join(dataDir, "../score.py"), dataDir, resultsDir };
    const cv = crossValidate(setup, "test", folds);
    const [one, two] = cv.folds;
    assert.is(one.threshold, scoreNab(setup, folds[1].series).threshold);
    assert.is(two.threshold, scoreNab(setup, folds[0].series).threshold);
    for (const [i, f] of cv.folds.entries()) {
      // A threshold chosen elsewhere never beats the fold's own sweep.
      assert.ok(f.score.raw <= scoreNab(setup, folds[i].series).raw + 1e-9, `${f.heldOut}: ${f.score.raw}`);
    }
    const raw = one.score.raw + two.score.raw;
    const nul = one.score.nullScore + two.score.nullScore;
    assert.ok(Math.abs(cv.pooled - (100 * (raw - nul)) / (one.score.perfect + two.score.perfect - nul)) < 1e-9);
    assert.ok(cv.pooled > 0 && cv.pooled <= 100, `pooled ${cv.pooled}`);
  } finally {
    rmSync(resultsDir, { recursive: true, force: true });
  }
});

test("the split files hold the 24 public series, each once, every category on both sides", () => {
  const { a, b } = publicSplits();
  const listed = readFileSync(join(dataDir, "../series.txt"), "utf8").split("\n").map((l) => l.trim()).filter(Boolean);
  assert.equal([...a, ...b].sort(), [...listed].sort());
  const categories = (xs: string[]) => [...new Set(xs.map((x) => x.split("/")[0]))].sort();
  assert.equal(categories(a), categories(b));
});

test.run();
