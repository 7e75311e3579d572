import { hourStart } from "./layout.ts";
import { rowBytes, type LakeRow } from "./rows.ts";

/** When a file is complete: one UTC hour of stream time at most, and at most this many rows and bytes. */
export interface FileLimits {
  readonly maxRows: number;
  /** Uncompressed bytes (payloads, subjects, headers); the Parquet file is a fraction of it. */
  readonly maxBytes: number;
}

export interface OpenFile {
  readonly hourMs: number;
  readonly rows: LakeRow[];
  bytes: number;
}

/**
 * Cuts a task's messages, in stream order, into files. Where a file ends depends only on the
 * messages (their stream times and sizes) and the limits, never on when they arrived or how they
 * were batched: a replay from a checkpoint cuts the same files again, with the same names and
 * the same content. A file ends when the next message belongs to another hour, or when it is full
 * (`moreOfItsMessage`: the row is an event of a batch message whose next event follows).
 */
export function addRow(open: OpenFile | undefined, row: LakeRow, limits: FileLimits, moreOfItsMessage = false): { open: OpenFile | undefined; complete: OpenFile[] } {
  const complete: OpenFile[] = [];
  const hourMs = hourStart(row.timestampMs);
  let current = open;
  if (current && current.hourMs !== hourMs) {
    complete.push(current);
    current = undefined;
  }
  current ??= { hourMs, rows: [], bytes: 0 };
  current.rows.push(row);
  current.bytes += rowBytes(row);
  // A batch message's events stay in one file (a file is named by its first and last sequence), so a full file ends after its message's last event.
  if (moreOfItsMessage || (current.rows.length < limits.maxRows && current.bytes < limits.maxBytes)) return { open: current, complete };
  complete.push(current);
  return { open: undefined, complete };
}

/** JSON form of an open file, for checkpoints. */
export interface OpenFileSnapshot {
  readonly hourMs: number;
  readonly rows: ReadonlyArray<{ stream: string; seq: number; subject: string; ts: number; headers: Record<string, string>; data: string }>;
}

export function snapshotOpenFile(f: OpenFile): OpenFileSnapshot {
  return { hourMs: f.hourMs, rows: f.rows.map((r) => ({ stream: r.stream, seq: r.seq, subject: r.subject, ts: r.timestampMs, headers: { ...r.headers }, data: Buffer.from(r.data).toString("base64") })) };
}

export function restoreOpenFile(s: OpenFileSnapshot): OpenFile {
  const rows = s.rows.map((r) => ({ stream: r.stream, seq: r.seq, subject: r.subject, timestampMs: r.ts, headers: r.headers, data: Buffer.from(r.data, "base64") }));
  return { hourMs: s.hourMs, rows, bytes: rows.reduce((n, r) => n + rowBytes(r), 0) };
}
