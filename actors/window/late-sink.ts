import { timeValue, toClickHouseError, type Capabilities, type OpenClickHouse } from "../../clickhouse/index.ts";
import { targetOf } from "../../clickhouse/errors.ts";
import { LATE_EVENT_COLUMNS } from "../../clickhouse/migrations-windows.ts";
import { IDENTITY_COLUMNS, WINDOW_TABLES } from "../../clickhouse/schema.ts";
import { seconds } from "../../subjects/catalog.ts";
import type { ConsumerDefinition } from "../../subjects/consumers.ts";
import { defineActor, type ActorDefinition, type Inbound } from "../runtime/actor.ts";
import { describeError, PoisonError, RetryableError } from "../runtime/errors.ts";
import { isDataError } from "../sink/insert-errors.ts";
import { withoutStored } from "../sink/stored.ts";
import type { SinkSettings } from "../sink/sink.ts";
import { SERVICES } from "../services.ts";
import type { LateMessage } from "./outputs.ts";

export const LATE_SINK_CONSUMER: ConsumerDefinition = {
  stream: "LATE",
  durable_name: "clickhouse-sink-late",
  filter_subject: "late.>",
  ack_policy: "explicit",
  deliver_policy: "all",
  ack_wait: seconds(20),
  max_deliver: -1,
  max_ack_pending: 50_000,
};

const decoder = new TextDecoder();

function lateRow(input: Inbound, caps: Capabilities): Record<(typeof LATE_EVENT_COLUMNS)[number], unknown> {
  const table = WINDOW_TABLES.late_events;
  let m: LateMessage;
  try {
    m = JSON.parse(decoder.decode(input.data)) as LateMessage;
  } catch (err) {
    throw new PoisonError("json", `${input.subject} (seq ${input.seq}): not a late-event message`, { cause: err });
  }
  if (typeof m?.event_id !== "string" || !Array.isArray(m.windows)) {
    throw new PoisonError("late_message", `${input.subject} (seq ${input.seq}): expected a late-event message with event_id and windows`);
  }
  return {
    late_id: m.late_id ?? m.event_id,
    source: m.source,
    key: m.event?.key ?? "",
    event_id: m.event_id,
    event_time: timeValue(m.event_time, caps, table, "event_time"),
    watermark: timeValue(m.watermark, caps, table, "watermark"),
    partition: m.partition,
    reason: m.reason,
    allowed_lateness_ms: m.allowed_lateness_ms,
    window_ids: m.windows.map((w) => w.window_id),
    windows: JSON.stringify(m.windows),
    payload: JSON.stringify(m.event?.payload ?? {}),
    received_at: timeValue(input.timestampMs, caps, table, "received_at"),
    trace_id: input.traceId,
  };
}

/**
 * LATE → `sluice.late_events`: every event that arrived after its windows closed for good, with
 * the ids of the windows it missed. Batches and retries like the other sinks; a redelivered
 * message whose (source, late_id) is already stored is not inserted again (see `withoutStored`).
 * It writes the process's ClickHouse (SERVICES.clickhouse), taken when it starts.
 */
export function lateSinkActor(settings: SinkSettings): ActorDefinition {
  let clickhouse: OpenClickHouse | undefined;
  const open = (): OpenClickHouse => {
    if (!clickhouse) throw new Error("clickhouse-sink-late: handled a batch before it started (no ClickHouse yet)");
    return clickhouse;
  };
  const insert = async (rows: Array<Record<string, unknown>>) => {
    const { client } = open();
    try {
      await client.insert({ table: WINDOW_TABLES.late_events, values: rows, columns: [...LATE_EVENT_COLUMNS], format: "JSONEachRow" });
    } catch (err) {
      throw toClickHouseError(err, `INSERT INTO ${WINDOW_TABLES.late_events} (${rows.length} rows)`, targetOf(client));
    }
  };
  // Inputs of an attempt that failed transiently, which may have stored some rows before failing.
  const attempted = new WeakSet<Inbound>();
  return defineActor({
    name: "clickhouse-sink-late",
    consumes: LATE_SINK_CONSUMER,
    emits: [],
    writes: [WINDOW_TABLES.late_events],
    batch: { max_messages: settings.maxRows, max_wait_ms: settings.maxWaitMs },
    needs: [SERVICES.clickhouse],
    async start(ctx) {
      clickhouse = await ctx.use(SERVICES.clickhouse);
    },
    async handle(batch, ctx) {
      const { client, caps } = open();
      const mapped: Array<{ input: Inbound; row: Record<string, unknown> }> = [];
      for (const input of batch) {
        try {
          mapped.push({ input, row: lateRow(input, caps) });
        } catch (err) {
          ctx.reject(input, err instanceof PoisonError ? err : new PoisonError("decode", `${input.subject} (seq ${input.seq}): ${describeError(err)}`, { cause: err }));
        }
      }
      const items = await withoutStored(mapped, { client, table: WINDOW_TABLES.late_events, identity: IDENTITY_COLUMNS.late_events, uncertain: (input) => attempted.has(input), log: ctx.log });
      if (items.length === 0) return;
      try {
        await insert(items.map((i) => i.row));
      } catch (err) {
        for (const { input } of items) attempted.add(input);
        if (!isDataError(err)) throw new RetryableError(`${WINDOW_TABLES.late_events}: ClickHouse unavailable: ${describeError(err)}`, { cause: err, delayMs: 500 });
        for (const { input, row } of items) {
          try {
            await insert([row]);
          } catch (one) {
            if (!isDataError(one)) throw new RetryableError(`${WINDOW_TABLES.late_events}: insert failed: ${describeError(one)}`, { cause: one });
            ctx.reject(input, new PoisonError("clickhouse_rejected", `${input.subject} (seq ${input.seq}): ClickHouse refused the row: ${describeError(one)}`, { cause: one }));
          }
        }
      }
    },
  });
}
