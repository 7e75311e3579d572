// Usage: node --import tsx models/anomaly/nab-cli.ts --data ../shared/nab/data --out OUT [--only SUBSTRING]... [--cv] [--joint] [--scorer score.py]
// --joint: also the multivariate benchmark (nab-joint.ts) on the Twitter volumes, written to OUT-joint,
// next to the univariate detector's score on the same series.
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { evalNab } from "./nab.ts";
import { formatNabCv, nabCrossValidation, publicSplits, scoreNab } from "./nab-cv.ts";
import { evalNabJoint, TWITTER_VOLUMES } from "./nab-joint.ts";

const { values } = parseArgs({
  options: { data: { type: "string" }, out: { type: "string" }, only: { type: "string", multiple: true }, cv: { type: "boolean" }, joint: { type: "boolean" }, scorer: { type: "string" } },
});
if (!values.data || !values.out) {
  console.error("usage: nab-cli --data DIR --out DIR [--only SUBSTRING]... [--cv [--scorer FILE]]");
  process.exit(2);
}
if (values.cv && values.only) {
  console.error("nab-cli --cv scores the whole public set: drop --only");
  process.exit(2);
}
const started = Date.now();
const run = evalNab({ dataDir: values.data, outDir: values.out, only: values.only });
const rows = run.files.reduce((n, f) => n + f.rows, 0);
console.log(`${run.files.length} series, ${rows} points, ${((Date.now() - started) / 1000).toFixed(1)}s -> ${values.out}`);
const scorer = values.scorer ?? join(dirname(values.data), "score.py");
if (values.cv) console.log(formatNabCv(nabCrossValidation({ scorer, dataDir: values.data, resultsDir: values.out }, publicSplits())));
if (values.joint) {
  const jointDir = `${values.out}-joint`;
  const joint = evalNabJoint({ dataDir: values.data, outDir: jointDir, series: TWITTER_VOLUMES });
  const show = (what: string, resultsDir: string) => {
    const s = scoreNab({ scorer, dataDir: values.data as string, resultsDir }, TWITTER_VOLUMES);
    console.log(`${what}: ${s.normalized.toFixed(1)} at ${s.threshold.toFixed(4)}, ${s.windowsDetected} of ${s.windowsScorable} windows, ${s.falsePositiveRows} false-positive rows`);
  };
  console.log(`joint benchmark: ${TWITTER_VOLUMES.length} Twitter volumes, ${joint.sharedRows} shared timestamps (threshold swept on these series)`);
  show("  multivariate, score to the named series", jointDir);
  show("  univariate, each series alone", values.out);
}
