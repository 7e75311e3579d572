import type { ClickHouseClient } from "@clickhouse/client";
import { insertRows, TABLES, type InsertRowTypes, type TableName } from "../../clickhouse/index.ts";
import type { ConsumerDefinition } from "../../subjects/consumers.ts";
import { defineActor, type ActorContext, type ActorDefinition, type Inbound } from "../runtime/actor.ts";
import { describeError, PoisonError, RetryableError } from "../runtime/errors.ts";
import { isDataError } from "./insert-errors.ts";

export interface SinkOptions<T extends TableName> {
  readonly name: string;
  readonly consumes: ConsumerDefinition;
  readonly table: T;
  readonly client: () => ClickHouseClient;
  /** Turns one message into one row; throw a PoisonError for a message that cannot be a row. */
  readonly toRow: (input: Inbound) => InsertRowTypes[T];
  readonly maxRows?: number;
  readonly maxWaitMs?: number;
  /** Columns beyond the table's fixed list, named in every insert (typed payload columns of sluice.events). */
  readonly extraColumns?: () => readonly string[];
  /** Runs before a batch becomes rows (the events sink adds the columns a new schema declares); a failure retries the batch. */
  readonly prepare?: (batch: readonly Inbound[]) => Promise<void>;
}

/**
 * A ClickHouse sink: batches by size and time, inserts, then the runtime acks. Rows are
 * idempotent (ReplacingMergeTree on the row's identity), so a redelivered batch replaces, never
 * double-counts. While ClickHouse is unreachable the batch is held and retried (a RetryableError
 * stops pulling); rows ClickHouse refuses as data are found one by one and dead-lettered.
 */
export function sinkActor<T extends TableName>(opts: SinkOptions<T>): ActorDefinition {
  const table = TABLES[opts.table];
  const insert = (rows: Array<InsertRowTypes[T]>) => insertRows(opts.client(), opts.table, rows, opts.extraColumns?.());

  const insertOneByOne = async (items: Array<{ input: Inbound; row: InsertRowTypes[T] }>, ctx: ActorContext) => {
    for (const { input, row } of items) {
      try {
        await insert([row]);
      } catch (err) {
        if (!isDataError(err)) throw new RetryableError(`${table}: insert failed: ${describeError(err)}`, { cause: err });
        ctx.reject(input, new PoisonError("clickhouse_rejected", `${input.subject} (seq ${input.seq}): ClickHouse refused the row for ${table}: ${describeError(err)}`, { cause: err }));
      }
    }
  };

  return defineActor({
    name: opts.name,
    consumes: opts.consumes,
    emits: [],
    batch: { max_messages: opts.maxRows ?? 5_000, max_wait_ms: opts.maxWaitMs ?? 1_000 },
    async handle(batch, ctx) {
      if (opts.prepare) {
        await opts.prepare(batch).catch((err) => {
          throw new RetryableError(`${table}: preparing the batch failed: ${describeError(err)}`, { cause: err, delayMs: 500 });
        });
      }
      const items: Array<{ input: Inbound; row: InsertRowTypes[T] }> = [];
      for (const input of batch) {
        try {
          items.push({ input, row: opts.toRow(input) });
        } catch (err) {
          ctx.reject(input, err instanceof PoisonError ? err : new PoisonError("decode", `${input.subject} (seq ${input.seq}): cannot map to a ${table} row: ${describeError(err)}`, { cause: err }));
        }
      }
      if (items.length === 0) return;
      try {
        await insert(items.map((i) => i.row));
      } catch (err) {
        if (!isDataError(err)) throw new RetryableError(`${table}: ClickHouse unavailable: ${describeError(err)}`, { cause: err, delayMs: 500 });
        await insertOneByOne(items, ctx);
      }
    },
  });
}
