import type { ClickHouseClient } from "@clickhouse/client";
import { classifyInsertFailure, quoteString, toClickHouseError } from "../../clickhouse/index.ts";
import { targetOf } from "../../clickhouse/errors.ts";
import type { Inbound, Logger } from "../runtime/actor.ts";
import { RetryableError } from "../runtime/errors.ts";
import type { PendingRow } from "./insert-errors.ts";

/**
 * Longest lookup statement: well under max_query_size (256 KiB by default on every server),
 * which bounds the SQL text of the IN list (the data of an INSERT does not count, a query's does).
 */
const MAX_LOOKUP_SQL = 128 * 1024;

export interface StoredLookup {
  readonly client: ClickHouseClient;
  /** The table's full name (`sluice.events`). */
  readonly table: string;
  /** Its identity columns (clickhouse/schema.ts IDENTITY_COLUMNS). */
  readonly identity: readonly string[];
  /** Inputs whose row may be stored although this process never saw its insert succeed. */
  readonly uncertain: (input: Inbound) => boolean;
  readonly log: Logger;
}

/** The key an identity compares by: numbers as their digits, so UInt64 answered as "12" matches 12. */
function keyOf(values: readonly unknown[]): string {
  return JSON.stringify(values.map((v) => String(v)));
}

/** The value as a SQL literal; undefined for one the row mapper left to the column's DEFAULT or its parser. */
function literal(value: unknown): string | undefined {
  if (typeof value === "string") return quoteString(value);
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/**
 * The rows to insert, without those of redelivered (or otherwise uncertain) inputs whose identity
 * is already in the table: an earlier delivery inserted them and its ack was lost (a crash between
 * INSERT and ack, or an INSERT that committed some partitions before failing). First deliveries
 * are not looked up, so a batch with no redelivery costs no query. A lookup ClickHouse cannot
 * answer now is a RetryableError (the batch is held and retried as if its insert had failed); one
 * it refuses for good is logged and every row is inserted, since holding would wedge the sink and
 * a row stored twice still collapses under FINAL.
 */
export async function withoutStored<R>(items: readonly PendingRow<R>[], lookup: StoredLookup): Promise<PendingRow<R>[]> {
  const values = (item: PendingRow<R>) => lookup.identity.map((c) => (item.row as Record<string, unknown>)[c]);
  // A row whose identity is not all String and integer values cannot be looked up: it is inserted.
  const suspects = new Map<PendingRow<R>, string>();
  const tuples = new Map<string, string>();
  for (const item of items) {
    if (item.input.deliveries <= 1 && !lookup.uncertain(item.input)) continue;
    const v = values(item);
    const literals = v.map(literal);
    if (literals.some((l) => l === undefined)) continue;
    const key = keyOf(v);
    suspects.set(item, key);
    tuples.set(key, `(${literals.join(", ")})`);
  }
  if (suspects.size === 0) return [...items];
  const stored = new Set<string>();
  const head = `SELECT ${lookup.identity.join(", ")} FROM ${lookup.table} WHERE (${lookup.identity.join(", ")}) IN (`;
  const list = [...tuples.values()];
  for (let start = 0; start < list.length;) {
    let end = start;
    let size = head.length + 1;
    while (end < list.length && (end === start || size + list[end].length + 2 <= MAX_LOOKUP_SQL)) size += list[end++].length + 2;
    const sql = `${head}${list.slice(start, end).join(", ")})`;
    const rows = await query(lookup, sql, end - start);
    if (!rows) return [...items];
    for (const row of rows) stored.add(keyOf(row));
    start = end;
  }
  if (stored.size === 0) return [...items];
  return items.filter((i) => {
    const key = suspects.get(i);
    return key === undefined || !stored.has(key);
  });
}

/** The identities found, or undefined when ClickHouse refused the lookup for good. */
async function query(lookup: StoredLookup, sql: string, count: number): Promise<unknown[][] | undefined> {
  try {
    const result = await lookup.client.query({ query: sql, format: "JSONCompact", clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } });
    return (await result.json<unknown[]>()).data;
  } catch (err) {
    const typed = toClickHouseError(err, `SELECT the identities of ${count} redelivered rows FROM ${lookup.table}`, targetOf(lookup.client));
    const failure = classifyInsertFailure(typed);
    // Not the server's text: it may quote the statement, whose IN list holds the rows' values.
    const what = `${lookup.table}: looking up which of ${count} redelivered rows are already stored failed (${failure.kind}${failure.code !== undefined ? `, code ${failure.code}` : ""}${failure.name ? ` ${failure.name}` : ""})`;
    if (failure.kind === "transient") throw new RetryableError(what, { cause: typed, delayMs: failure.retryAfterMs });
    lookup.log.warn(`${what}; inserting them all (a row stored twice collapses under FINAL)`);
    return undefined;
  }
}
