// A fingerprint of everything the univariate detector says about a few public NAB series: a hash
// of every point's score and explanation numbers at full precision, plus the rows that scored
// above 0. Speed work on the detector's internals must leave it unchanged, bit for bit; a change
// meant to alter scores regenerates it (`node --import tsx tests/models/nab-fingerprint.ts --write`)
// and is decided by the cross-validation protocol of models/anomaly/RESULTS.md.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createUnivariateDetector, readNabCsv } from "../../models/anomaly/index.ts";

const repo = new URL("../..", import.meta.url).pathname;
export const NAB_DATA = join(repo, "../shared/nab/data");
export const FINGERPRINT_FILE = join(repo, "tests/models/fixtures/nab-fingerprint.json");
/** A jump, an ad-exchange series with early windows, a network series, a long bursty one. */
export const FINGERPRINT_SERIES = [
  "artificialWithAnomaly/art_daily_jumpsup.csv",
  "realAdExchange/exchange-3_cpc_results.csv",
  "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
  "realTweets/Twitter_volume_AAPL.csv",
];

export interface Fingerprint {
  rows: number;
  sha256: string;
  alerts: Array<[row: number, score: number, signal: string]>;
}

/** Runs a fresh detector over one series; `restoreAt` snapshots and restores (through JSON) at that row first. */
export function fingerprint(path: string, restoreAt?: number): Fingerprint {
  const { times, values } = readNabCsv(join(NAB_DATA, path));
  let detector = createUnivariateDetector();
  const hash = createHash("sha256");
  const alerts: Fingerprint["alerts"] = [];
  for (let i = 0; i < times.length; i++) {
    if (i === restoreAt) {
      const again = createUnivariateDetector();
      again.restore(JSON.parse(JSON.stringify(detector.snapshot())));
      detector = again;
    }
    const { score, explanation: e } = detector.update(times[i], values[i]);
    hash.update(JSON.stringify([score, e.signal, e.context, e.observed, e.expected.low, e.expected.high, e.novelty, e.pValue, e.surprise, e.suppressed]));
    if (score > 0) alerts.push([i, score, e.signal]);
  }
  return { rows: times.length, sha256: hash.digest("hex"), alerts };
}

if (process.argv.includes("--write")) {
  const out = Object.fromEntries(FINGERPRINT_SERIES.map((p) => [p, fingerprint(p)]));
  writeFileSync(FINGERPRINT_FILE, JSON.stringify(out, null, 1) + "\n");
  console.log(`wrote ${FINGERPRINT_FILE}`);
}

export function readFingerprints(): Record<string, Fingerprint> {
  return JSON.parse(readFileSync(FINGERPRINT_FILE, "utf8")) as Record<string, Fingerprint>;
}
