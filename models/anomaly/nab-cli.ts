// Usage: node --import tsx models/anomaly/nab-cli.ts --data ../shared/nab/data --out OUT [--only SUBSTRING]...
import { parseArgs } from "node:util";
import { evalNab } from "./nab.ts";

const { values } = parseArgs({
  options: { data: { type: "string" }, out: { type: "string" }, only: { type: "string", multiple: true } },
});
if (!values.data || !values.out) {
  console.error("usage: nab-cli --data DIR --out DIR [--only SUBSTRING]...");
  process.exit(2);
}
const started = Date.now();
const run = evalNab({ dataDir: values.data, outDir: values.out, only: values.only });
const rows = run.files.reduce((n, f) => n + f.rows, 0);
console.log(`${run.files.length} series, ${rows} points, ${((Date.now() - started) / 1000).toFixed(1)}s -> ${values.out}`);
