import type { Output, WindowResult } from "../../windowing/index.ts";
import { subject } from "../../subjects/catalog.ts";
import { eventMsgId } from "../../subjects/identity.ts";
import type { WindowRow } from "../../clickhouse/rows.ts";
import type { Outbound } from "../runtime/actor.ts";

/** What a `late.<source>` message carries: the engine's late output plus where it came from. */
export interface LateMessage {
  type: "late";
  late_id: string;
  task: string;
  reason: string;
  source: string;
  event_id: string;
  event_time: number;
  partition: number;
  watermark: number;
  allowed_lateness_ms: number;
  windows: Array<{ window_id: string; kind: string; key: string; metric: string; window_start: number; window_end: number }>;
  event: { key: string; payload: Record<string, unknown> };
}

/** Where an emitted session row sits: a new version with other bounds must delete this one. */
export interface SessionBounds {
  source: string;
  start: number;
  end: number;
}

export interface OutputContext {
  readonly task: string;
  /** Prefix of every `Nats-Msg-Id`: the actor's fingerprint and the task (KeyedContext.scope). */
  readonly scope: string;
  /** The EVENTS partition of the message being folded (the engine may know it as 0). */
  readonly partition: number;
  /** Stream timestamp of that message: deterministic, unlike the wall clock. */
  readonly emittedAt: number;
  readonly sessions: Map<string, SessionBounds>;
}

/** A deletion is the row with count 0 (no real window has one): see clickhouse/migrations-windows.ts. */
function aggMessage(row: WindowResult, emittedAt: number, deleted: boolean, msgId: string, bounds?: SessionBounds): Outbound {
  const out: WindowRow = deleted
    ? { ...row, count: 0, sum: 0, min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p95: 0, p99: 0, distinct_count: null, emitted_at: emittedAt }
    : { ...row, emitted_at: emittedAt };
  if (bounds) {
    out.window_start = bounds.start;
    out.window_end = bounds.end;
  }
  return { subject: subject.agg(row.source, row.kind), data: JSON.stringify(out), msgId };
}

/**
 * Engine outputs as messages. Ids and versions come from the engine (window_id, 1, 2, …), never
 * from a clock, so the same input gives byte-identical messages and a replay after a crash is
 * deduplicated by `Nats-Msg-Id` in AGG and replaced in ClickHouse. The ids are scoped by the
 * task's config and partitioning (`ctx.scope`); the row ids (window_id, late_id) are not, so a
 * rebuild under a new config replaces the rows it recomputes.
 *
 * `window_aggregates` is sorted by the window's bounds, and a session's bounds move between
 * versions: each new version with other bounds also sends the previous bounds back as a deletion
 * (count 0) under the new version, which replaces the stale row. A retraction deletes the
 * session that was merged away the same way.
 */
export function toMessages(outputs: readonly Output[], ctx: OutputContext): Outbound[] {
  const messages: Outbound[] = [];
  for (const out of outputs) {
    if (out.type === "window") {
      const row = out.row;
      if (row.kind === "session") {
        const previous = ctx.sessions.get(row.window_id);
        if (previous && (previous.start !== row.window_start || previous.end !== row.window_end)) {
          messages.push(aggMessage(row, ctx.emittedAt, true, `${ctx.scope}:${row.window_id}:v${row.version}:was:${previous.start}-${previous.end}`, previous));
        }
        ctx.sessions.set(row.window_id, { source: row.source, start: row.window_start, end: row.window_end });
      }
      messages.push(aggMessage(row, ctx.emittedAt, false, `${ctx.scope}:${row.window_id}:v${row.version}`));
    } else if (out.type === "retract") {
      const row = out.row;
      const previous = ctx.sessions.get(row.window_id);
      if (previous && (previous.start !== row.window_start || previous.end !== row.window_end)) {
        messages.push(aggMessage(row, ctx.emittedAt, true, `${ctx.scope}:${row.window_id}:v${row.version}:was:${previous.start}-${previous.end}`, previous));
      }
      ctx.sessions.delete(row.window_id);
      messages.push(aggMessage(row, ctx.emittedAt, true, `${ctx.scope}:${row.window_id}:v${row.version}:retract`));
    } else {
      // Scoped like EVENTS' ids: the same producer id under another key is another event.
      const identity = eventMsgId(out.source, out.event.key, out.event_id);
      const lateId = `${ctx.task}:${identity}`;
      const late: LateMessage = {
        type: "late",
        late_id: lateId,
        task: ctx.task,
        reason: out.reason,
        source: out.source,
        event_id: out.event_id,
        event_time: out.event_time,
        partition: ctx.partition,
        watermark: out.watermark,
        allowed_lateness_ms: out.allowed_lateness_ms,
        windows: out.windows,
        event: { key: out.event.key, payload: out.event.payload },
      };
      messages.push({ subject: subject.late(out.source), data: JSON.stringify(late), msgId: `late:${ctx.scope}:${identity}` });
    }
  }
  return messages;
}

/** Forgets sessions the engine has purged: past their end plus the lateness, nothing can follow. */
export function purgeSessions(sessions: Map<string, SessionBounds>, horizonOf: (source: string) => number | null): void {
  for (const [id, b] of sessions) {
    const horizon = horizonOf(b.source);
    if (horizon !== null && b.end < horizon) sessions.delete(id);
  }
}
