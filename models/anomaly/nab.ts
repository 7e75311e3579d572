import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createUnivariateDetector, type UnivariateOptions } from "./univariate.ts";

/**
 * What `evalNab` wrote: one entry per series, `<category>/<name>.csv` relative to `outDir`.
 *
 * @example
 * const { files } = evalNab({ dataDir: "../shared/nab/data", outDir: "out/nab-results" });
 */
export interface NabRun {
  files: { path: string; rows: number; maxScore: number }[];
}

export class NabDataError extends Error {
  override name = "NabDataError";
}

/** Parses NAB's `timestamp,value` CSV (timestamps are UTC wall-clock `YYYY-MM-DD HH:MM:SS`). */
export function readNabCsv(path: string): { timestamps: string[]; times: number[]; values: number[] } {
  const lines = readFileSync(path, "utf8").split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = lines[0]?.split(",").map((h) => h.trim()) ?? [];
  const ti = header.indexOf("timestamp");
  const vi = header.indexOf("value");
  if (ti < 0 || vi < 0) throw new NabDataError(`${path}: expected header timestamp,value, got ${lines[0]}`);
  const timestamps: string[] = [];
  const times: number[] = [];
  const values: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const cols = lines[i].split(",");
    const t = Date.parse(`${cols[ti].trim().replace(" ", "T")}Z`);
    const v = Number(cols[vi]);
    if (!Number.isFinite(t)) throw new NabDataError(`${path} line ${i + 1}: bad timestamp ${JSON.stringify(cols[ti])}`);
    timestamps.push(cols[ti].trim());
    times.push(t);
    values.push(v);
  }
  return { timestamps, times, values };
}

/**
 * Runs a fresh detector over every NAB series under `dataDir` (`<category>/<name>.csv`), one
 * point at a time in file order, and writes `outDir/<category>/<name>.csv` with
 * `timestamp,value,anomaly_score`, the layout NAB's scorer reads.
 *
 * @example
 * evalNab({ dataDir: "../shared/nab/data", outDir: "out/nab" });
 * // then: python3 ../shared/nab/score.py --results out/nab
 */
export function evalNab(opts: { dataDir: string; outDir: string; only?: string[]; detector?: UnivariateOptions }): NabRun {
  const files: NabRun["files"] = [];
  for (const category of readdirSync(opts.dataDir).sort()) {
    const catDir = join(opts.dataDir, category);
    if (!statSync(catDir).isDirectory()) continue;
    for (const name of readdirSync(catDir).filter((f) => f.endsWith(".csv")).sort()) {
      const rel = `${category}/${name}`;
      if (opts.only && !opts.only.some((s) => rel.includes(s))) continue;
      const { timestamps, times, values } = readNabCsv(join(catDir, name));
      const detector = createUnivariateDetector(opts.detector);
      const out = ["timestamp,value,anomaly_score"];
      let maxScore = 0;
      for (let i = 0; i < times.length; i++) {
        const { score } = detector.update(times[i], values[i]);
        maxScore = Math.max(maxScore, score);
        out.push(`${timestamps[i]},${values[i]},${score}`);
      }
      mkdirSync(join(opts.outDir, category), { recursive: true });
      writeFileSync(join(opts.outDir, category, name), out.join("\n") + "\n");
      files.push({ path: rel, rows: times.length, maxScore });
    }
  }
  return { files };
}
