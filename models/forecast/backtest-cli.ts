// Usage: node --import tsx models/forecast/backtest-cli.ts --data ../shared/nab/data [--horizon 12] [--origins 10] [--period day|detect]
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readNabCsv } from "../anomaly/nab.ts";
import { backtest } from "./backtest.ts";

const { values } = parseArgs({
  options: {
    data: { type: "string" },
    horizon: { type: "string", default: "12" },
    origins: { type: "string", default: "10" },
    // "day": MASE and the seasonal naive benchmark use points per day (from the timestamps); "detect": the period found by autocorrelation.
    period: { type: "string", default: "day" },
  },
});
if (!values.data) {
  console.error("usage: backtest-cli --data DIR [--horizon H] [--origins N]");
  process.exit(2);
}
const horizon = Number(values.horizon);
const origins = Number(values.origins);
const rows: { name: string; mase: number; sn: number; rel: number; coverage: number; kinds: string }[] = [];
for (const category of readdirSync(values.data).sort()) {
  const dir = join(values.data, category);
  if (!statSync(dir).isDirectory()) continue;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".csv")).sort()) {
    const { times, values: series } = readNabCsv(join(dir, file));
    const gaps = times.slice(1, 17).map((t, i) => t - times[i]).sort((a, b) => a - b);
    const perDay = Math.round(86_400_000 / gaps[Math.floor(gaps.length / 2)]);
    const r = backtest(series, { horizon, origins, period: values.period === "day" ? perDay : undefined });
    const kinds = [...new Set(r.origins.map((o) => `${o.kind}${o.period > 1 ? `/${o.period}` : ""}`))].join(" ");
    rows.push({ name: `${category}/${file}`, mase: r.mase, sn: r.maseSeasonalNaive, rel: r.relativeMae, coverage: r.coverage, kinds });
    console.log(`${`${category}/${file}`.padEnd(62)} MASE ${r.mase.toFixed(3)}  snaive ${r.maseSeasonalNaive.toFixed(3)}  relMAE ${r.relativeMae.toFixed(3)}  coverage ${r.coverage.toFixed(2)}  ${kinds}`);
  }
}
const scored = rows.filter((r) => Number.isFinite(r.mase) && r.mase > 0);
const mean = (f: (r: (typeof rows)[number]) => number) => scored.reduce((a, r) => a + f(r), 0) / scored.length;
console.log(`mean over ${scored.length} series (flat series without a scale left out): MASE ${mean((r) => r.mase).toFixed(3)}  seasonal naive ${mean((r) => r.sn).toFixed(3)}  relMAE ${mean((r) => r.rel).toFixed(3)}  coverage ${mean((r) => r.coverage).toFixed(3)}  (horizon ${horizon}, ${origins} origins, period ${values.period}, 80% intervals)`);
