import { DATASETS, fileKey, type Dataset, type LakeFile } from "./layout.ts";
import type { LakeStore } from "./store.ts";

export interface CompactResult {
  /** Partition-hours that now hold one file instead of several. */
  readonly merged: number;
  /** Small files removed (merged, or left over from a compaction that crashed after its write). */
  readonly removed: number;
}

const contains = (big: LakeFile, small: LakeFile) => big !== small && big.firstSeq <= small.firstSeq && small.lastSeq <= big.lastSeq;

/**
 * Merges each complete partition-hour's files into one (`hourMs + 1 h <= beforeMs`). The merged
 * file is named by the whole range, written durably first, and only then are the small files
 * removed; a file whose range lies inside another's is a leftover of a run that crashed between
 * the two and is removed alone. Files of one task hold disjoint sequence ranges, so the merged
 * file holds each message once; a reader listing the hour between the write and the removals
 * sees both (a second at most), never neither.
 */
export async function compactLake(store: LakeStore, beforeMs: number): Promise<CompactResult> {
  let merged = 0;
  let removed = 0;
  for (const dataset of Object.keys(DATASETS) as Dataset[]) {
    const groups = new Map<string, LakeFile[]>();
    for (const f of await store.list(dataset)) {
      if (f.hourMs + 3_600_000 > beforeMs) continue;
      const key = `${f.source}/${f.hourMs}`;
      groups.set(key, [...(groups.get(key) ?? []), f]);
    }
    for (const files of groups.values()) {
      const leftovers = files.filter((f) => files.some((g) => contains(g, f)));
      for (const f of leftovers) await store.remove(f);
      removed += leftovers.length;
      const live = files.filter((f) => !leftovers.includes(f)).sort((a, b) => a.firstSeq - b.firstSeq);
      if (live.length < 2) continue;
      const rows = [];
      for (const f of live) rows.push(...(await store.read(f)));
      const whole: LakeFile = { ...live[0], lastSeq: live[live.length - 1].lastSeq };
      await store.write(whole, rows);
      for (const f of live) if (fileKey(f) !== fileKey(whole)) await store.remove(f);
      removed += live.length;
      merged++;
    }
  }
  return { merged, removed };
}

/** Removes every lake file of an hour that ended before `beforeMs`. */
export async function expireLake(store: LakeStore, beforeMs: number): Promise<number> {
  let removed = 0;
  for (const dataset of Object.keys(DATASETS) as Dataset[]) {
    for (const f of await store.list(dataset)) {
      if (f.hourMs + 3_600_000 > beforeMs) continue;
      await store.remove(f);
      removed++;
    }
  }
  return removed;
}
