// A multivariate benchmark built from NAB's public series: series of one category recorded on the
// same clock (the four Twitter volumes share their 5-minute timestamps) are read as one vector
// per timestamp, labels kept per series. The multivariate detector's score of a vector is written
// to the series its explanation names, 0 to the others, so a joint alert counts only where it
// points: NAB's scorer then judges detection and attribution together against each series' own
// windows. Timestamps missing from any member are skipped (scored 0 in every member).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMultivariateDetector, type MultivariateOptions } from "./multivariate.ts";
import { readNabCsv } from "./nab.ts";

/** What `evalNabJoint` wrote and how many timestamps all members shared. */
export interface NabJointRun {
  series: string[];
  sharedRows: number;
  /** Vectors whose score went to each member (score above 0). */
  attributed: Record<string, number>;
}

/**
 * Runs one multivariate detector over the members' shared timestamps, in order, and writes
 * `outDir/<category>/<name>.csv` (timestamp,value,anomaly_score) for each member.
 *
 * @example
 * evalNabJoint({ dataDir: "../shared/nab/data", outDir: "out/joint", series: ["realTweets/Twitter_volume_AAPL.csv", "realTweets/Twitter_volume_FB.csv"] });
 * // then: python3 ../shared/nab/score.py --results out/joint --only realTweets
 */
export function evalNabJoint(opts: { dataDir: string; outDir: string; series: readonly string[]; detector?: MultivariateOptions }): NabJointRun {
  const members = opts.series.map((path) => ({ path, ...readNabCsv(join(opts.dataDir, path)) }));
  const rowOf = members.map((m) => new Map(m.timestamps.map((t, i) => [t, i])));
  const shared = members[0].timestamps.filter((t) => rowOf.every((rows) => rows.has(t)));
  const scores = members.map((m) => new Array<number>(m.times.length).fill(0));
  const names = members.map((m) => m.path);
  const detector = createMultivariateDetector({ ...opts.detector, featureNames: names });
  const attributed: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const t of shared) {
    const rows = rowOf.map((r) => r.get(t) as number);
    const { score, explanation } = detector.update(members[0].times[rows[0]], members.map((m, k) => m.values[rows[k]]));
    if (score <= 0) continue;
    const k = names.indexOf(String(explanation.feature));
    scores[k][rows[k]] = score;
    attributed[names[k]]++;
  }
  members.forEach((m, k) => {
    const [category, name] = m.path.split("/");
    mkdirSync(join(opts.outDir, category), { recursive: true });
    const lines = ["timestamp,value,anomaly_score", ...m.timestamps.map((t, i) => `${t},${m.values[i]},${scores[k][i]}`)];
    writeFileSync(join(opts.outDir, category, name), lines.join("\n") + "\n");
  });
  return { series: names, sharedRows: shared.length, attributed };
}

/** The public series recorded on one clock: the four Twitter volumes (15,833 shared 5-minute timestamps, 12 windows). */
export const TWITTER_VOLUMES: readonly string[] = ["AAPL", "CRM", "FB", "KO"].map((s) => `realTweets/Twitter_volume_${s}.csv`);
