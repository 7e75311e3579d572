import { readFileSync, writeFileSync } from "node:fs";
import { evalSynthetic, type SyntheticEvalReport } from "../actors/detect/eval.ts";
import { evalNab, formatNabCv, nabCrossValidation, publicSplits } from "../models/anomaly/index.ts";
import { dirname, join } from "node:path";
import { evalForecast, formatReport, nabSeries } from "../models/forecast/eval.ts";
import { forecastM4, formatM4, intervalScore, readM4 } from "../models/forecast/m4.ts";
import { syntheticSeries } from "../actors/generate/series.ts";
import { SOURCES } from "../subjects/sources.ts";
import { parse, positiveNumber, UsageError } from "./args.ts";
import { parseSources } from "./generate.ts";

const USAGE = [
  "sluice eval synthetic [--events N] [--seed N] [--anomaly-rate F] [--interval-ms N] [--sources iot,social,txn] [--format table|json]",
  "sluice eval nab --data DIR --out DIR [--only SUBSTRING] [--cv [--scorer FILE]]",
  "sluice eval forecast --data DIR | --synthetic [--seed N] [--horizon 12] [--origins 10] [--format table|json]",
  "sluice eval forecast --m4 FILE --out F.csv [--horizon 48] [--level 0.95] [--actuals FILE]",
].join("\n       ");

function table(report: SyntheticEvalReport): string {
  const rows = [["source", "events", "episodes", "found", "alerts", "false", "precision", "recall", "F1"]];
  for (const [source, s] of Object.entries(report.sources)) {
    rows.push([source, String(s.events), String(s.episodes), String(s.found), String(s.alerts), String(s.falseAlerts), s.precision.toFixed(3), s.recall.toFixed(3), s.f1.toFixed(3)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "));
  const kinds = Object.entries(report.sources).flatMap(([source, s]) =>
    Object.entries(s.kinds).map(([kind, k]) => `  ${source}/${kind}: ${k.found} of ${k.episodes} found`));
  const o = report.options;
  return [
    `seed ${o.seed}, ${o.events} events (${o.burnIn} burn-in), anomaly rate ${o.anomalyRate}, ${o.intervalMs} ms apart; ${(report.elapsedMs / 1000).toFixed(1)} s`,
    ...lines,
    "recall per kind:",
    ...kinds,
  ].join("\n");
}

async function synthetic(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    events: { type: "string" },
    seed: { type: "string" },
    "anomaly-rate": { type: "string" },
    "interval-ms": { type: "string" },
    sources: { type: "string" },
    format: { type: "string" },
  }, USAGE);
  const anomalyRate = positiveNumber(values["anomaly-rate"], "--anomaly-rate", 0.02);
  if (anomalyRate <= 0 || anomalyRate > 1) throw new UsageError(`--anomaly-rate ${anomalyRate}: expected a fraction above 0, at most 1`);
  const format = values.format ?? "table";
  if (format !== "table" && format !== "json") throw new UsageError(`--format ${JSON.stringify(format)}: expected table or json`);
  const report = evalSynthetic({
    seed: positiveNumber(values.seed, "--seed", 1),
    events: Math.floor(positiveNumber(values.events, "--events", 100_000)),
    anomalyRate,
    intervalMs: positiveNumber(values["interval-ms"], "--interval-ms", 500),
    sources: parseSources(values.sources ?? SOURCES.join(",")),
  });
  console.log(format === "json" ? JSON.stringify(report, null, 2) : table(report));
  return 0;
}

function nab(argv: string[]): number {
  const { values } = parse(argv, { data: { type: "string" }, out: { type: "string" }, only: { type: "string", multiple: true }, cv: { type: "boolean" }, scorer: { type: "string" } }, USAGE);
  if (!values.data || !values.out) throw new UsageError(`eval nab needs --data DIR (NAB's data/) and --out DIR\nusage: ${USAGE}`);
  if (values.cv && values.only) throw new UsageError("eval nab --cv scores the whole public set: drop --only");
  const started = Date.now();
  const run = evalNab({ dataDir: values.data, outDir: values.out, only: values.only });
  const points = run.files.reduce((n, f) => n + f.rows, 0);
  console.log(`${run.files.length} series, ${points} points, ${((Date.now() - started) / 1000).toFixed(1)} s -> ${values.out}`);
  if (!values.cv) {
    console.log(`score it: python3 <nab>/score.py --results ${values.out}`);
    return 0;
  }
  // NAB's layout: score.py sits next to data/.
  const scorer = values.scorer ?? join(dirname(values.data), "score.py");
  console.log(formatNabCv(nabCrossValidation({ scorer, dataDir: values.data, resultsDir: values.out }, publicSplits())));
  return 0;
}

/** The file next to `out` holding one interval bound: F.csv -> F-lower.csv. */
const boundPath = (out: string, bound: "lower" | "upper") => out.replace(/(\.csv)?$/, `-${bound}.csv`);

/** Forecasts every series of an M4-layout file into M4-layout files: F.csv (means), F-lower.csv and F-upper.csv (interval bounds). */
function forecastFile(file: string, values: { out?: string; horizon?: string; level?: string; actuals?: string }): number {
  if (!values.out) throw new UsageError(`eval forecast --m4 needs --out F.csv\nusage: ${USAGE}`);
  const horizon = Math.floor(positiveNumber(values.horizon, "--horizon", 48));
  const level = positiveNumber(values.level, "--level", 0.95);
  if (horizon < 1) throw new UsageError(`--horizon ${horizon}: must be at least 1`);
  if (level <= 0 || level >= 1) throw new UsageError(`--level ${level}: expected a fraction between 0 and 1`);
  const series = readM4(readFileSync(file, "utf8"));
  const started = performance.now();
  const forecasts = forecastM4(series, { horizon, level });
  const ms = performance.now() - started;
  writeFileSync(values.out, formatM4(forecasts.map((f) => ({ id: f.id, values: f.mean }))));
  writeFileSync(boundPath(values.out, "lower"), formatM4(forecasts.map((f) => ({ id: f.id, values: f.lower }))));
  writeFileSync(boundPath(values.out, "upper"), formatM4(forecasts.map((f) => ({ id: f.id, values: f.upper }))));
  const models = new Map<string, number>();
  for (const f of forecasts) models.set(f.model, (models.get(f.model) ?? 0) + 1);
  console.log(`${series.length} series, horizon ${horizon}, ${Math.round(level * 100)}% intervals, ${(ms / 1000).toFixed(1)} s (${(ms / Math.max(1, series.length)).toFixed(1)} ms a series) -> ${values.out}, ${boundPath(values.out, "lower")}, ${boundPath(values.out, "upper")}`);
  console.log(`models: ${[...models].sort((a, b) => b[1] - a[1]).map(([m, n]) => `${m} ${n}`).join(", ")}`);
  if (values.actuals) {
    const byId = (rows: { id: string; values: number[] }[]) => new Map(rows.map((r) => [r.id, r.values]));
    const s = intervalScore(byId(series), byId(readM4(readFileSync(values.actuals, "utf8"))), byId(forecasts.map((f) => ({ id: f.id, values: f.mean }))), byId(forecasts.map((f) => ({ id: f.id, values: f.lower }))), byId(forecasts.map((f) => ({ id: f.id, values: f.upper }))), { level, period: 24 });
    console.log(`intervals against ${values.actuals}: coverage ${s.coverage.toFixed(3)}  MSIS ${s.msis.toFixed(3)}  mean scaled width ${s.width.toFixed(3)}  scale for ${Math.round(level * 100)}% inside ${s.neededScale.toFixed(3)}`);
  }
  return 0;
}

function forecast(argv: string[]): number {
  const { values } = parse(argv, {
    m4: { type: "string" },
    out: { type: "string" },
    level: { type: "string" },
    actuals: { type: "string" },
    data: { type: "string" },
    synthetic: { type: "boolean" },
    seed: { type: "string" },
    horizon: { type: "string" },
    origins: { type: "string" },
    format: { type: "string" },
  }, USAGE);
  if (values.m4) return forecastFile(values.m4, values);
  if (!values.data === !values.synthetic) throw new UsageError(`eval forecast needs --data DIR (NAB's data/) or --synthetic, or --m4 FILE\nusage: ${USAGE}`);
  const format = values.format ?? "table";
  if (format !== "table" && format !== "json") throw new UsageError(`--format ${JSON.stringify(format)}: expected table or json`);
  const series = values.data ? nabSeries(values.data) : syntheticSeries({ seed: positiveNumber(values.seed, "--seed", 1) });
  const horizon = Math.floor(positiveNumber(values.horizon, "--horizon", 12));
  const origins = Math.floor(positiveNumber(values.origins, "--origins", 10));
  if (horizon < 1 || origins < 1) throw new UsageError(`--horizon ${horizon} --origins ${origins}: both must be at least 1`);
  const report = evalForecast(series, { horizon, origins });
  console.log(format === "json" ? JSON.stringify(report, null, 2) : formatReport(report));
  return 0;
}

/** `sluice eval synthetic|live` (injected anomalies, precision/recall/F1 per source) and `sluice eval nab`; `sluice eval forecast` (MASE against seasonal naive, interval coverage). */
export async function run(argv: string[]): Promise<number> {
  const [mode, ...rest] = argv;
  if (mode === "synthetic" || mode === "live") return synthetic(rest);
  if (mode === "nab") return nab(rest);
  if (mode === "forecast") return forecast(rest);
  throw new UsageError(`expected synthetic, live, nab or forecast${mode ? `, got ${JSON.stringify(mode)}` : ""}\nusage: ${USAGE}`);
}
