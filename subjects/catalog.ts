import type { Source } from "./sources.ts";

/** Seconds → nanoseconds, the unit JetStream's wire config uses for durations. */
export const seconds = (s: number): number => s * 1_000_000_000;

/**
 * The streams sluice owns. Wire config keeps the server's snake_case. Created or checked at
 * start by `ensureStreams`; a field that differs on the server is reported, never changed silently.
 *
 * - `RAW`: what producers publish, one JSON event per message, on `raw.<source>.<key>`.
 * - `EVENTS`: validated, normalised {@link Envelope}s on `events.<source>.<partition>`.
 * - `DLQ`: every rejected message on `dlq.<actor>.<source>`, with `Sluice-*` headers.
 * - `DQ`: data-quality counts per expectation and minute, on `dq.<source>`.
 * - `AGG`: window results on `agg.<source>.<kind>`.
 * - `LATE`: events that arrived after their window closed, on `late.<source>`.
 * - `ALERTS`: anomalies the detect actor found, on `alerts.<source>.<severity>`.
 * - `DLQ_SINK`: dead letters the DLQ sink could not store, on `dlq-sink.<actor>.<source>` (the
 *   dead letter's own tokens). Outside `dlq.>`, so the DLQ sink never reads its own failures back.
 */
export const STREAMS = {
  RAW: {
    name: "RAW",
    subjects: ["raw.>"],
    storage: "file",
    retention: "limits",
    discard: "old",
    duplicate_window: seconds(120),
  },
  EVENTS: {
    name: "EVENTS",
    subjects: ["events.>"],
    storage: "file",
    retention: "limits",
    discard: "old",
    duplicate_window: seconds(600),
    max_age: seconds(7 * 24 * 3600),
  },
  DLQ: {
    name: "DLQ",
    subjects: ["dlq.>"],
    storage: "file",
    retention: "limits",
    discard: "old",
    duplicate_window: seconds(600),
    max_age: seconds(30 * 24 * 3600),
  },
  DQ: {
    name: "DQ",
    subjects: ["dq.>"],
    storage: "file",
    retention: "limits",
    discard: "old",
    duplicate_window: seconds(600),
    max_age: seconds(7 * 24 * 3600),
  },
  AGG: {
    name: "AGG",
    subjects: ["agg.>"],
    storage: "file",
    retention: "limits",
    discard: "old",
    duplicate_window: seconds(600),
    max_age: seconds(7 * 24 * 3600),
  },
  LATE: {
    name: "LATE",
    subjects: ["late.>"],
    storage: "file",
    retention: "limits",
    discard: "old",
    duplicate_window: seconds(600),
    max_age: seconds(30 * 24 * 3600),
  },
  ALERTS: {
    name: "ALERTS",
    subjects: ["alerts.>"],
    storage: "file",
    retention: "limits",
    discard: "old",
    duplicate_window: seconds(600),
    max_age: seconds(30 * 24 * 3600),
  },
  DLQ_SINK: {
    name: "DLQ_SINK",
    subjects: ["dlq-sink.>"],
    storage: "file",
    retention: "limits",
    discard: "old",
    duplicate_window: seconds(600),
    max_age: seconds(30 * 24 * 3600),
  },
} as const;

export type StreamName = keyof typeof STREAMS;
export type StreamDefinition = (typeof STREAMS)[StreamName];

/** Builds every subject sluice publishes or subscribes to; no subject literal lives elsewhere. */
export const subject = {
  raw: (source: Source | string, key: string) => `raw.${source}.${key}`,
  rawAll: (source?: Source) => (source ? `raw.${source}.>` : "raw.>"),
  events: (source: Source, partition: number) => `events.${source}.${partition}`,
  eventsAll: (source?: Source) => (source ? `events.${source}.>` : "events.>"),
  dlq: (actor: string, source: string) => `dlq.${actor}.${source}`,
  dlqAll: () => "dlq.>",
  dlqSink: (actor: string, source: string) => `dlq-sink.${actor}.${source}`,
  dq: (source: string) => `dq.${source}`,
  dqAll: () => "dq.>",
  agg: (source: Source, kind: string) => `agg.${source}.${kind}`,
  aggAll: () => "agg.>",
  late: (source: Source) => `late.${source}`,
  lateAll: () => "late.>",
  alerts: (source: Source, severity: string) => `alerts.${source}.${severity}`,
  alertsAll: () => "alerts.>",
  /** A scheduled job that kept failing (jobs/): on ALERTS, stored with the anomalies under source "jobs". */
  jobAlerts: (severity: string) => `alerts.jobs.${severity}`,
  /** JetStream's advisory when a message of `durable` reached max_deliver and will not be delivered again. */
  maxDeliveriesAdvisory: (stream: string, durable: string) => `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${durable}`,
  /** Core publish: a report was written (`sluice report`, SLUICE_REPORT_CRON); the body says where. */
  report: (name: string) => `reports.${name}`,
  /** Request/reply: the process that owns the embedded ClickHouse answers SQL here. */
  sqlService: () => "sluice.rpc.sql",
  /** Request/reply: the same process stores audit entries for processes that cannot open the engine. */
  auditService: () => "sluice.rpc.audit",
  /** Request/reply: the process that runs the job scheduler runs a job now (`sluice jobs run`). */
  jobsService: () => "sluice.rpc.jobs.run",
} as const;

/** Parses `raw.<source>.<key…>`; the key is every token after the source. */
export function parseRawSubject(value: string): { source: string; key: string } | undefined {
  const parts = value.split(".");
  if (parts.length < 3 || parts[0] !== "raw") return undefined;
  return { source: parts[1], key: parts.slice(2).join(".") };
}

/** Parses `events.<source>.<partition>`; undefined when the last token is no whole number (its range is the reader's to check). */
export function parseEventsSubject(value: string): { source: string; partition: number } | undefined {
  const parts = value.split(".");
  if (parts.length !== 3 || parts[0] !== "events" || !/^\d+$/.test(parts[2])) return undefined;
  return { source: parts[1], partition: Number(parts[2]) };
}

/** Parses `dlq.<actor>.<source>` and `dlq-sink.<actor>.<source>`: which actor gave up on a message of which source. */
export function parseDeadLetterSubject(value: string): { actor: string; source: string } | undefined {
  const parts = value.split(".");
  if (parts.length !== 3 || (parts[0] !== "dlq" && parts[0] !== "dlq-sink")) return undefined;
  return { actor: parts[1], source: parts[2] };
}

/** Stable FNV-1a hash of the key, so one key always lands in one partition. */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

/** Headers sluice sets; JetStream's own (`Nats-Msg-Id`) are named by nats.js. */
export const HEADERS = {
  reason: "Sluice-Reason",
  errorCode: "Sluice-Error-Code",
  actor: "Sluice-Actor",
  originalSubject: "Sluice-Original-Subject",
  originalStream: "Sluice-Original-Stream",
  streamSequence: "Sluice-Stream-Seq",
  /** On a dead letter of one event of a batch message (subjects/event-batch.ts): its place in the batch, from 0. */
  eventIndex: "Sluice-Event-Index",
  deliveries: "Sluice-Deliveries",
  failedAt: "Sluice-Failed-At",
  replayCount: "Sluice-Replay-Count",
  schemaVersion: "Sluice-Schema-Version",
  /** On a dead letter: the rejected message's own `Nats-Msg-Id`, which a replay must carry again. */
  originalMsgId: "Sluice-Original-Msg-Id",
  /** On an event: the names of the `warn` expectations it failed, comma-separated. */
  dqWarnings: "Sluice-Dq-Warnings",
  /** On a dead letter whose body was cut to fit the server's max_payload: the original size in bytes. */
  truncated: "Sluice-Payload-Truncated",
  msgId: "Nats-Msg-Id",
} as const;
