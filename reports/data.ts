import { queries, type Period } from "../clickhouse/queries.ts";

/** Rows of one SELECT as objects (the API's QueryRows, declared here so reports/ needs nothing above it). */
export type ReportRows = (sql: string) => Promise<Array<Record<string, unknown>>>;

/** Pending work of a durable consumer at the time of the report. */
export interface ReportLag {
  readonly consumer: string;
  readonly stream: string;
  readonly pending: number;
  readonly ackPending: number;
}

/** Everything a report shows, with the period it covers; the figures are the SQL answers for that period. */
export interface ReportData {
  readonly name: string;
  readonly period: Period;
  readonly generatedAt: number;
  readonly volumes: ReadonlyArray<{ source: string; events: number; keys: number; perSecond: number }>;
  /** Events per source and hour (or minute, for a period under three hours) of arrival. */
  readonly timeline: { readonly bucketMs: number; readonly series: ReadonlyArray<{ source: string; points: ReadonlyArray<[number, number]> }> };
  readonly quality: ReadonlyArray<{ source: string; expectation: string; severity: string; evaluated: number; failed: number; passRate: number }>;
  readonly deadLetters: ReadonlyArray<{ actor: string; code: string; count: number }>;
  readonly anomalies: ReadonlyArray<{ eventId: string; traceId: string; source: string; key: string; metric: string; score: number; severity: string; signal: string; explanation: unknown; expectedLow: number; expectedHigh: number; observed: number; eventTime: string }>;
  readonly forecasts: ReadonlyArray<{ series: string; points: number; mae: number; coverage: number; level: number }>;
  readonly lag: readonly ReportLag[];
}

const n = (v: unknown) => Number(v);
const MAX_ANOMALIES = 50;

/** Runs the report's SELECTs (clickhouse/queries.ts, the dashboard's too) for one period. */
export async function gatherReport(opts: { name: string; rows: ReportRows; period: Period; lag?: () => Promise<ReportLag[]>; now?: () => number }): Promise<ReportData> {
  const { rows, period } = opts;
  const seconds = Math.max(1, (period.toMs - period.fromMs) / 1000);
  const bucketMs = period.toMs - period.fromMs < 3 * 3_600_000 ? 60_000 : 3_600_000;
  const [volumes, perMinute, quality, deadLetters, anomalies, forecasts, lag] = await Promise.all([
    rows(queries.volumes(period)),
    rows(queries.eventsPerMinute(period)),
    rows(queries.dataQuality(period)),
    rows(queries.deadLettersByReason(period)),
    rows(queries.anomalies(period, MAX_ANOMALIES)),
    rows(queries.forecastAccuracy(period)),
    opts.lag ? opts.lag().catch(() => []) : Promise.resolve([]),
  ]);
  const buckets = new Map<string, Map<number, number>>();
  for (const r of perMinute) {
    const at = Math.floor((n(r.minute) * 1000) / bucketMs) * bucketMs;
    const perSource = buckets.get(String(r.source)) ?? new Map<number, number>();
    perSource.set(at, (perSource.get(at) ?? 0) + n(r.events));
    buckets.set(String(r.source), perSource);
  }
  return {
    name: opts.name,
    period,
    generatedAt: (opts.now ?? Date.now)(),
    volumes: volumes.map((r) => ({ source: String(r.source), events: n(r.events), keys: n(r.keys), perSecond: n(r.events) / seconds })),
    timeline: { bucketMs, series: [...buckets].map(([source, m]) => ({ source, points: [...m].sort(([a], [b]) => a - b) })) },
    quality: quality.map((r) => ({ source: String(r.source), expectation: String(r.expectation), severity: String(r.severity), evaluated: n(r.evaluated), failed: n(r.failed), passRate: n(r.evaluated) ? (n(r.evaluated) - n(r.failed)) / n(r.evaluated) : 1 })),
    deadLetters: deadLetters.map((r) => ({ actor: String(r.actor), code: String(r.error_code), count: n(r.dead_letters) })),
    anomalies: anomalies.map((r) => ({
      eventId: String(r.event_id), traceId: String(r.trace_id), source: String(r.source), key: String(r.key), metric: String(r.metric), score: n(r.score),
      severity: String(r.severity), signal: String(r.signal), explanation: JSON.parse(String(r.explanation || "{}")), expectedLow: n(r.expected_low),
      expectedHigh: n(r.expected_high), observed: n(r.observed), eventTime: String(r.event_time),
    })),
    forecasts: forecasts.map((r) => ({ series: String(r.series), points: n(r.points), mae: n(r.mae), coverage: n(r.coverage), level: n(r.level) })),
    lag,
  };
}
