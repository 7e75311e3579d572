import { classifyInsertFailure, type InsertFailure } from "../../clickhouse/errors.ts";
import type { TimeValue } from "../../clickhouse/rows.ts";
import type { Inbound } from "../runtime/actor.ts";
import { describeError, RetryableError } from "../runtime/errors.ts";

/**
 * True when an insert failed because of the rows rather than the server, so inserting the same
 * rows again as they are cannot help (for sinks that then insert row by row; `sinkActor` uses
 * {@link insertIsolating}). The classification itself lives in clickhouse/errors.ts.
 */
export function isDataError(err: unknown): boolean {
  return classifyInsertFailure(err).kind !== "transient";
}

/** A message and the row it maps to. */
export interface PendingRow<R> {
  readonly input: Inbound;
  readonly row: R;
}

export interface IsolateHandlers<R> {
  readonly table: string;
  insert(rows: R[]): Promise<void>;
  /** The partition a row lands in (rows of one partition never need splitting for max_partitions_per_insert_block). */
  partitionOf(row: R): string;
  inserted(items: readonly PendingRow<R>[]): void;
  /** A row that fails alone with a data or unknown error. */
  failedAlone(item: PendingRow<R>, failure: InsertFailure, err: unknown): void;
}

/**
 * Inserts `items` so that no row is lost, none is inserted twice by this call, and no row
 * blocks the others:
 * - transient failure: throws a RetryableError (the runtime holds the batch and tries again);
 * - too many partitions: bisects the partitions, so each insert spans half as many;
 * - data or unknown failure: bisects the rows until the ones that fail alone are found.
 * A failed insert stores nothing (ClickHouse parses the rows and checks the partition count
 * before it writes a part of an insert block, max_insert_block_size = 1 048 576 rows, far above a
 * sink batch), so only the halves that succeed are stored, each once.
 */
export async function insertIsolating<R>(items: readonly PendingRow<R>[], h: IsolateHandlers<R>): Promise<void> {
  if (items.length === 0) return;
  let err: unknown;
  try {
    await h.insert(items.map((i) => i.row));
    h.inserted(items);
    return;
  } catch (caught) {
    err = caught;
  }
  const failure = classifyInsertFailure(err);
  if (failure.kind === "transient") {
    throw new RetryableError(`${h.table}: ClickHouse cannot take rows now (${failure.name ?? "transient"}): ${describeError(err)}`, { cause: err, delayMs: failure.retryAfterMs });
  }
  if (failure.kind === "too_many_partitions") {
    const partitions = groupBy(items, (i) => h.partitionOf(i.row));
    if (partitions.length > 1) {
      const half = Math.ceil(partitions.length / 2);
      await insertIsolating(partitions.slice(0, half).flat(), h);
      await insertIsolating(partitions.slice(half).flat(), h);
      return;
    }
    // One partition cannot be too many: something else is wrong, find the row.
  }
  if (items.length === 1) {
    h.failedAlone(items[0], failure, err);
    return;
  }
  const half = Math.ceil(items.length / 2);
  await insertIsolating(items.slice(0, half), h);
  await insertIsolating(items.slice(half), h);
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return [...groups.keys()].sort().map((k) => groups.get(k)!);
}

/**
 * The UTC day of a time column value as the row mappers write it (DateTime64 text or DateTime
 * epoch seconds). Every sluice table partitions by the day or the month of one time column, so
 * rows of one day always share a partition.
 */
export function dayOf(value: TimeValue | unknown): string {
  if (typeof value === "string") return value.slice(0, 10);
  if (typeof value === "number" && Number.isFinite(value)) return String(Math.floor(value / 86_400));
  return "";
}
