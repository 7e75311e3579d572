import { describeInsertFailure, insertRows, RETENTION_COLUMN, TABLES, type Capabilities, type InsertFailure, type InsertRowTypes, type OpenClickHouse, type TableName } from "../../clickhouse/index.ts";
import { HEADERS, type StreamName } from "../../subjects/catalog.ts";
import type { ConsumerDefinition } from "../../subjects/consumers.ts";
import { defineActor, type ActorContext, type ActorDefinition, type Inbound, type Outbound, type ServiceKey, type StartContext } from "../runtime/actor.ts";
import { SERVICES } from "../services.ts";
import { describeError, PoisonError, RetryableError } from "../runtime/errors.ts";
import { IDENTITY_COLUMNS, type IdentifiedTable } from "../../clickhouse/schema.ts";
import { dayOf, insertIsolating, type PendingRow } from "./insert-errors.ts";
import { withoutStored } from "./stored.ts";

/** Deliveries a row that fails alone with an unclassified ClickHouse error gets before it is dead-lettered. */
export const UNKNOWN_ERROR_DELIVERIES = 5;

/** The tables a sink can write: those with a row identity to find a redelivered row by. */
export type SinkTable = TableName & IdentifiedTable;

/** How a sink batches (SLUICE_SINK_BATCH_ROWS, SLUICE_SINK_BATCH_MS); the ClickHouse it writes comes at start (SERVICES.clickhouse). */
export interface SinkSettings {
  readonly maxRows: number;
  readonly maxWaitMs: number;
}

export interface SinkOptions<T extends SinkTable> {
  readonly name: string;
  readonly consumes: ConsumerDefinition;
  readonly table: T;
  /** Turns one message into one row (in the column types of `caps`); throw a PoisonError for a message that cannot be a row. */
  readonly toRow: (input: Inbound, caps: Capabilities) => InsertRowTypes[T];
  /** Services beyond ClickHouse, taken in `start`. */
  readonly needs?: readonly ServiceKey<unknown>[];
  /** After the sink has its ClickHouse: take what else it needs from `ctx`. */
  readonly start?: (ctx: StartContext) => void | Promise<void>;
  readonly maxRows?: number;
  readonly maxWaitMs?: number;
  /** Columns beyond the table's fixed list, named in every insert (typed payload columns of sluice.events). */
  readonly extraColumns?: () => readonly string[];
  /** Runs before a batch becomes rows (the events sink adds the columns a new schema declares); a failure retries the batch. */
  readonly prepare?: (batch: readonly Inbound[]) => Promise<void>;
  /** Deliveries before a row failing alone with an unclassified error is dead-lettered; default {@link UNKNOWN_ERROR_DELIVERIES}. */
  readonly unknownErrorDeliveries?: number;
  /**
   * Where a message that can never become a row goes, instead of the runtime's dead letter on
   * DLQ. The DLQ sink needs it: a dead letter of its own on DLQ would come back to it.
   */
  readonly divert?: { readonly stream: StreamName; message(input: Inbound, error: PoisonError): Outbound };
}

/**
 * A ClickHouse sink: batches by size and time, inserts, then the runtime acks. A redelivered
 * message's row is inserted only if its identity (clickhouse/schema.ts IDENTITY_COLUMNS) is not
 * in the table yet, so a sink that died between its INSERT and its acks stores nothing twice, with
 * or without FINAL. Two deliveries of one message inserting at the same moment (ack_wait expired
 * during the first insert) can still both insert; ReplacingMergeTree collapses them under FINAL
 * and in merges. What a failed insert means is decided by clickhouse/errors.ts: while ClickHouse
 * is unavailable the batch is held and retried (a RetryableError stops pulling); a batch over the
 * per-INSERT partition limit is split by partition; rows ClickHouse refuses are found by
 * bisection and dead-lettered alone; a row failing alone with an unclassified error is
 * redelivered a few times, then dead-lettered with that error.
 *
 * It writes the process's ClickHouse (SERVICES.clickhouse), taken when it starts.
 */
export function sinkActor<T extends SinkTable>(opts: SinkOptions<T>): ActorDefinition {
  const table = TABLES[opts.table];
  const partitionColumn = RETENTION_COLUMN[opts.table] as keyof InsertRowTypes[T];
  const maxDeliveries = opts.unknownErrorDeliveries ?? UNKNOWN_ERROR_DELIVERIES;
  // Rows stored by an earlier attempt at the batch the runtime is holding and retrying (same
  // Inbound objects): a retry after a transient failure inserts only what is still missing.
  const stored = new WeakSet<Inbound>();
  // Inputs of an attempt that failed: a transient failure may have come after ClickHouse stored
  // some of the rows (a timeout, a dropped connection, a multi-partition insert cut short).
  const attempted = new WeakSet<Inbound>();
  let clickhouse: OpenClickHouse | undefined;
  const open = (): OpenClickHouse => {
    if (!clickhouse) throw new Error(`${opts.name}: handled a batch before it started (no ClickHouse yet)`);
    return clickhouse;
  };

  const refuse = (ctx: ActorContext, input: Inbound, error: PoisonError) => {
    if (opts.divert) ctx.emit(input, opts.divert.message(input, error));
    else ctx.reject(input, error);
  };

  const failedAlone = (ctx: ActorContext, { input }: PendingRow<InsertRowTypes[T]>, failure: InsertFailure, err: unknown) => {
    const what = `${input.subject} (stream ${input.stream} seq ${input.seq})`;
    if (failure.kind === "data") {
      refuse(ctx, input, new PoisonError("clickhouse_rejected", `${what}: ClickHouse refused the row for ${table}: ${describeInsertFailure(err)}`, { cause: err }));
    } else if (input.deliveries >= maxDeliveries) {
      refuse(ctx, input, new PoisonError("clickhouse_unknown_error", `${what}: the row for ${table} failed alone on ${input.deliveries} deliveries with an unclassified ClickHouse error: ${describeInsertFailure(err)}`, { cause: err }));
    } else {
      const delayMs = Math.min(30_000, 1_000 * 2 ** (input.deliveries - 1));
      ctx.retry(input, new RetryableError(`${what}: the row for ${table} failed alone (delivery ${input.deliveries} of ${maxDeliveries}): ${describeInsertFailure(err)}`, { cause: err, delayMs }));
    }
  };

  return defineActor({
    name: opts.name,
    consumes: opts.consumes,
    emits: opts.divert ? [opts.divert.stream] : [],
    writes: [table],
    batch: { max_messages: opts.maxRows ?? 5_000, max_wait_ms: opts.maxWaitMs ?? 1_000 },
    needs: [SERVICES.clickhouse, ...(opts.needs ?? [])],
    async start(ctx) {
      clickhouse = await ctx.use(SERVICES.clickhouse);
      await opts.start?.(ctx);
    },
    async handle(batch, ctx) {
      const { client, caps } = open();
      if (opts.prepare) {
        await opts.prepare(batch).catch((err) => {
          throw new RetryableError(`${table}: preparing the batch failed: ${describeError(err)}`, { cause: err, delayMs: 500 });
        });
      }
      const items: Array<PendingRow<InsertRowTypes[T]>> = [];
      for (const input of batch) {
        if (stored.has(input)) continue;
        try {
          items.push({ input, row: opts.toRow(input, caps) });
        } catch (err) {
          refuse(ctx, input, err instanceof PoisonError ? err : new PoisonError("decode", `${input.subject} (seq ${input.seq}): cannot map to a ${table} row: ${describeError(err)}`, { cause: err }));
        }
      }
      const missing = await withoutStored(items, { client, table, identity: IDENTITY_COLUMNS[opts.table], uncertain: (input) => attempted.has(input) || input.headers.has(HEADERS.replayCount), log: ctx.log });
      if (missing.length < items.length) {
        for (const { input } of items) stored.add(input);
        for (const { input } of missing) stored.delete(input);
        ctx.log.info(`${opts.name}: ${items.length - missing.length} redelivered rows were already in ${table} (an earlier delivery stored them); not inserting them again`);
      }
      await insertIsolating(missing, {
        table,
        insert: (rows) => insertRows(client, opts.table, rows, opts.extraColumns?.()),
        partitionOf: (row) => dayOf(row[partitionColumn]),
        inserted: (done) => {
          for (const { input } of done) stored.add(input);
        },
        failedAlone: (item, failure, err) => failedAlone(ctx, item, failure, err),
      }).catch((err: unknown) => {
        for (const { input } of missing) if (!stored.has(input)) attempted.add(input);
        throw err;
      });
    },
  });
}
