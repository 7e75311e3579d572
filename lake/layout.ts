/**
 * The lake's layout, in one place: `<dataset>/source=<s>/date=<YYYY-MM-DD>/hour=<HH>/<file>`,
 * Hive-style, so readers prune by source and date from the path alone. A file is named after the
 * stream sequence range it holds (`raw-0000000000000101-0000000000000350.parquet`): the same
 * messages always give the same name, and a rewrite replaces the file instead of adding one.
 */

/** What the lake keeps: RAW's messages as they came in, and EVENTS' validated envelopes. */
export const DATASETS = { raw: "RAW", events: "EVENTS" } as const;
export type Dataset = keyof typeof DATASETS;

export interface LakeFile {
  readonly dataset: Dataset;
  /** The partition's source: the task that read the messages (`iot`, … or `other`). */
  readonly source: string;
  /** UTC hour the messages' stream times fall in, epoch ms of its start. */
  readonly hourMs: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

const HOUR_MS = 3_600_000;
const SEQ_DIGITS = 16;

export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

/** `date=2026-12-01/hour=11` parts of an hour. */
export function partitionOf(hourMs: number): { date: string; hour: string } {
  const iso = new Date(hourMs).toISOString();
  return { date: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

export function partitionDir(dataset: Dataset, source: string, hourMs: number): string {
  const { date, hour } = partitionOf(hourMs);
  return `${dataset}/source=${source}/date=${date}/hour=${hour}`;
}

/** Every file of a dataset, as a glob below the lake root (the engines' `**` does not match `/` everywhere). */
export function datasetGlob(dataset: Dataset): string {
  return `${dataset}/source=*/date=*/hour=*/*.parquet`;
}

/** The file's key below the lake root. */
export function fileKey(f: LakeFile): string {
  const pad = (n: number) => String(n).padStart(SEQ_DIGITS, "0");
  return `${partitionDir(f.dataset, f.source, f.hourMs)}/${f.dataset}-${pad(f.firstSeq)}-${pad(f.lastSeq)}.parquet`;
}

const KEY = /^(raw|events)\/source=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/(?:raw|events)-(\d+)-(\d+)\.parquet$/;

/** The file a key names, or undefined for anything else (temp files, foreign objects). */
export function parseFileKey(key: string): LakeFile | undefined {
  const m = KEY.exec(key);
  if (!m) return undefined;
  const hourMs = Date.parse(`${m[3]}T${m[4]}:00:00Z`);
  if (!Number.isFinite(hourMs)) return undefined;
  return { dataset: m[1] as Dataset, source: m[2], hourMs, firstSeq: Number(m[5]), lastSeq: Number(m[6]) };
}

/** Source names become path segments: letters, digits, `_-` only. */
export function isPartitionSafe(source: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(source);
}
