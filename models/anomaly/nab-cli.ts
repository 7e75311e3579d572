// Usage: node --import tsx models/anomaly/nab-cli.ts --data ../shared/nab/data --out OUT [--only SUBSTRING]... [--cv [--scorer score.py]]
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { evalNab } from "./nab.ts";
import { formatNabCv, nabCrossValidation, publicSplits } from "./nab-cv.ts";

const { values } = parseArgs({
  options: { data: { type: "string" }, out: { type: "string" }, only: { type: "string", multiple: true }, cv: { type: "boolean" }, scorer: { type: "string" } },
});
if (!values.data || !values.out) {
  console.error("usage: nab-cli --data DIR --out DIR [--only SUBSTRING]... [--cv [--scorer FILE]]");
  process.exit(2);
}
const started = Date.now();
const run = evalNab({ dataDir: values.data, outDir: values.out, only: values.only });
const rows = run.files.reduce((n, f) => n + f.rows, 0);
console.log(`${run.files.length} series, ${rows} points, ${((Date.now() - started) / 1000).toFixed(1)}s -> ${values.out}`);
if (values.cv) {
  const scorer = values.scorer ?? join(dirname(values.data), "score.py");
  console.log(formatNabCv(nabCrossValidation({ scorer, dataDir: values.data, resultsDir: values.out }, publicSplits())));
}
