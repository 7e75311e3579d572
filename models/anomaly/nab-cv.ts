// Cross-validated NAB scores: a threshold is chosen on some series and the others are scored at
// it, as an unseen series would be. NAB's own scoring stays in its scorer (score.py, run as a
// child process); this module only chooses subsets, passes thresholds and pools raw scores.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One scorer run on a subset of series, standard-profile figures. */
export interface NabScore {
  /** Threshold used: swept (best for these series) or given. */
  threshold: number;
  raw: number;
  /** Raw score of a detector that never fires, and of a perfect one, on these series. */
  nullScore: number;
  perfect: number;
  /** 100 * (raw - null) / (perfect - null); 0 when the series hold no window. */
  normalized: number;
  windowsDetected: number;
  windowsScorable: number;
  falsePositiveRows: number;
}

/** A cross-validation: each fold's held-out series, scored at the threshold swept on the rest. */
export interface NabCrossValidation {
  name: string;
  folds: { heldOut: string; series: number; threshold: number; score: NabScore }[];
  /** Held-out raw scores summed over folds and normalised once: each series scored once, at a threshold chosen without it. */
  pooled: number;
}

/** Public score and both cross-validations of one results folder. */
export interface NabCvReport {
  /** Series scored. */
  series: number;
  public: NabScore;
  twoFold: NabCrossValidation;
  leaveCategoryOut: NabCrossValidation;
}

export class NabScorerError extends Error {
  override name = "NabScorerError";
}

export interface ScorerSetup {
  /** NAB's score.py. */
  scorer: string;
  /** NAB's data/ (the scorer reads timestamps and labels' rows from it). */
  dataDir: string;
  /** Folder the detector wrote (`<category>/<name>.csv`). */
  resultsDir: string;
  /** Profile; default "standard". */
  profile?: string;
}

interface ScorerJson {
  profiles: Record<string, {
    threshold: number; raw_score: number; null_score: number; perfect_score: number; normalized: number;
    windows_detected: number; windows_scorable: number; fp: number;
  }>;
}

/** Runs score.py on `series` (all when omitted), sweeping the threshold unless one is given. */
export function scoreNab(setup: ScorerSetup, series?: readonly string[], threshold?: number): NabScore {
  const profile = setup.profile ?? "standard";
  const dir = mkdtempSync(join(tmpdir(), "nab-cv-"));
  try {
    const args = [setup.scorer, "--results", setup.resultsDir, "--data", setup.dataDir, "--profile", profile, "--json", join(dir, "out.json")];
    if (series) {
      writeFileSync(join(dir, "subset.txt"), series.join("\n") + "\n");
      args.push("--subset", join(dir, "subset.txt"));
    }
    if (threshold !== undefined) args.push("--threshold", String(threshold));
    try {
      execFileSync("python3", args, { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? "";
      throw new NabScorerError(`score.py failed on ${series ? `${series.length} series` : "all series"}: ${stderr.split("\n").pop()}`, { cause: e });
    }
    const out = (JSON.parse(readFileSync(join(dir, "out.json"), "utf8")) as ScorerJson).profiles[profile];
    if (!out) throw new NabScorerError(`score.py wrote no "${profile}" profile`);
    return {
      threshold: out.threshold,
      raw: out.raw_score,
      nullScore: out.null_score,
      perfect: out.perfect_score,
      normalized: out.normalized,
      windowsDetected: out.windows_detected,
      windowsScorable: out.windows_scorable,
      falsePositiveRows: out.fp,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Scores each fold's series at the threshold swept on all the other series, then pools: the
 * held-out raw scores are summed and normalised once (a single category alone may hold no window,
 * where a normalised score is undefined).
 */
export function crossValidate(setup: ScorerSetup, name: string, folds: readonly { heldOut: string; series: readonly string[] }[]): NabCrossValidation {
  const all = folds.flatMap((f) => f.series);
  const out: NabCrossValidation["folds"] = folds.map((fold) => {
    const rest = all.filter((s) => !fold.series.includes(s));
    const { threshold } = scoreNab(setup, rest);
    return { heldOut: fold.heldOut, series: fold.series.length, threshold, score: scoreNab(setup, fold.series, threshold) };
  });
  const sum = (pick: (s: NabScore) => number) => out.reduce((n, f) => n + pick(f.score), 0);
  const span = sum((s) => s.perfect) - sum((s) => s.nullScore);
  return { name, folds: out, pooled: span > 0 ? (100 * (sum((s) => s.raw) - sum((s) => s.nullScore))) / span : 0 };
}

/** Series paths (`<category>/<name>.csv`) listed in a split file, one a line. */
export function readSplit(path: string): string[] {
  return readFileSync(path, "utf8").split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
}

/**
 * The protocol of RESULTS.md: the public score (threshold swept on all series), 2-fold CV over
 * the split files A and B (threshold from one half, score the other, swap), and
 * leave-one-category-out CV (threshold from six categories, score the seventh).
 */
export function nabCrossValidation(setup: ScorerSetup, splits: { a: readonly string[]; b: readonly string[] }): NabCvReport {
  const series = [...splits.a, ...splits.b].sort();
  const categories = [...new Set(series.map((s) => s.split("/")[0]))];
  return {
    series: series.length,
    public: scoreNab(setup, series),
    twoFold: crossValidate(setup, "2-fold A/B", [{ heldOut: "A", series: splits.a }, { heldOut: "B", series: splits.b }]),
    leaveCategoryOut: crossValidate(setup, "leave one category out", categories.map((c) => ({ heldOut: c, series: series.filter((s) => s.startsWith(`${c}/`)) }))),
  };
}

/** The report as text: public, then each CV with its folds. */
export function formatNabCv(r: NabCvReport): string {
  const p = r.public;
  const lines = [
    `public (${r.series} series, threshold swept on all): ${p.normalized.toFixed(1)} at ${p.threshold.toFixed(4)}, ${p.windowsDetected} of ${p.windowsScorable} windows, ${p.falsePositiveRows} false-positive rows`,
  ];
  for (const cv of [r.twoFold, r.leaveCategoryOut]) {
    lines.push(`CV ${cv.name}: ${cv.pooled.toFixed(1)} (pooled over held-out series)`);
    for (const f of cv.folds) {
      const s = f.score;
      lines.push(`  ${f.heldOut.padEnd(22)} ${String(f.series).padStart(2)} series at ${f.threshold.toFixed(4)}: ${s.windowsScorable > 0 ? s.normalized.toFixed(1).padStart(6) : "     -"}  (${s.windowsDetected}/${s.windowsScorable} windows, ${s.falsePositiveRows} FP rows)`);
    }
  }
  return lines.join("\n");
}

/** The split files kept next to this module (`nab-splits/A.txt`, `B.txt`: odd and even lines of NAB's public series list). */
export function publicSplits(): { a: string[]; b: string[] } {
  return {
    a: readSplit(new URL("./nab-splits/A.txt", import.meta.url).pathname),
    b: readSplit(new URL("./nab-splits/B.txt", import.meta.url).pathname),
  };
}
