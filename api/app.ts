import { Hono, type Context } from "hono";
import { createUnivariateDetector, type UnivariateDetector } from "../models/anomaly/index.ts";
import { quoteString } from "../clickhouse/query.ts";
import type { ActorMetrics } from "../otel/metrics.ts";
import { Lru } from "../models/lru.ts";
import type { ConsumerLag } from "./deps.ts";
import type { ForecastProvider } from "./forecast.ts";
import { openApiDocument } from "./openapi.ts";
import { sqlTime } from "../clickhouse/queries.ts";
import { dashboard, type DashboardDeps } from "./dashboard.ts";
import { isoTime } from "./time.ts";
import * as check from "./validate.ts";
import { RequestError } from "./validate.ts";
import { allDenials } from "../auth/denials.ts";
import { authorize, type AuthOptions } from "./auth.ts";
import { GUARD_DEFAULTS, guards, QueueFullError, requestTimeout, ScoringQueue, type GuardOptions } from "./guard.ts";
import { jobMetricsText } from "../jobs/metrics.ts";
import { processMemoryText } from "../otel/memory.ts";
import { eventLoopDelay, eventLoopDelayText } from "../otel/event-loop.ts";

/**
 * What the API reads from. Everything is injected, so tests pass a real chDB client and a real
 * NATS connection without a socket, and `sluice up` passes the pipeline's.
 *
 * @example
 * const app = createApp({ rows: clickhouseRows(() => ch.client), pingNats: natsPing(nc), pingClickHouse: async () => { await rows("SELECT 1"); }, metrics: allMetrics });
 * const res = await app.request("/v1/anomalies?source=iot&since=1h");
 */
export interface ApiDeps extends Omit<DashboardDeps, "now"> {
  pingNats: () => Promise<void>;
  pingClickHouse: () => Promise<void>;
  /** Absent: `/v1/forecast` answers 503. */
  forecast?: ForecastProvider;
  now?: () => number;
  /** Series `/v1/predict` keeps detectors for. Default 1000. */
  maxSeries?: number;
  /** Body size, request time and CORS limits (api/guard.ts); defaults when absent. */
  guard?: GuardOptions;
  /** Bearer tokens and roles (api/auth.ts); absent: every route is open, as before tokens. */
  auth?: AuthOptions;
  /** Where `/v1/predict` queues its scoring; default one of depth 8 for this app. */
  scoring?: ScoringQueue;
}

const MAX_BATCH = 10_000;
const READY_TIMEOUT_MS = 2_000;

function problem(c: Context, status: 400 | 401 | 403 | 404 | 413 | 415 | 429 | 500 | 503 | 504, field: string | undefined, message: string, hint: string) {
  return c.json({ error: { ...(field ? { field } : {}), message, hint } }, status);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer in ${ms} ms`), { name: "TimeoutError" })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function prometheus(metrics: ReadonlyMap<string, ActorMetrics>, lag: ConsumerLag[]): string {
  const families: Array<[string, string, "counter" | "gauge", (m: ActorMetrics) => number]> = [
    ["sluice_actor_received_total", "Messages delivered to the actor.", "counter", (m) => m.received],
    ["sluice_actor_acked_total", "Messages the actor acknowledged (processed).", "counter", (m) => m.acked],
    ["sluice_actor_emitted_total", "Messages the actor published.", "counter", (m) => m.emitted],
    ["sluice_actor_dead_lettered_total", "Messages the actor sent to the dead-letter stream.", "counter", (m) => m.deadLettered],
    ["sluice_actor_retried_total", "Messages naked for redelivery.", "counter", (m) => m.retried],
    ["sluice_actor_batch_retries_total", "Batches held and retried (a dependency was down).", "counter", (m) => m.batchRetries],
    ["sluice_actor_errors_total", "Handler errors.", "counter", (m) => m.errors],
    ["sluice_actor_restarts_total", "Restarts by the supervisor.", "counter", (m) => m.restarts],
    ["sluice_actor_held", "Messages held unacked (e.g. until a window closes).", "gauge", (m) => m.held],
    ["sluice_actor_last_batch_seconds", "When the actor last handled a batch, unix seconds.", "gauge", (m) => m.lastBatchAt / 1000],
    ["sluice_actor_in_flight", "Messages handed to the handler and not yet acked, nak'ed, dead-lettered or held.", "gauge", (m) => m.inFlight],
    ["sluice_actor_last_progress_seconds", "When the actor last acked or dead-lettered a message or had no work, unix seconds.", "gauge", (m) => m.lastProgressAt / 1000],
    ["sluice_actor_stuck", "1 while the actor has work and acked nothing for 3 x ack_wait (named by /readyz).", "gauge", (m) => m.stuck],
  ];
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  const lines: string[] = [];
  for (const [name, help, type, read] of families) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [actor, m] of [...metrics].sort(([a], [b]) => a.localeCompare(b))) lines.push(`${name}{actor="${esc(actor)}"} ${read(m)}`);
  }
  lines.push("# HELP sluice_consumer_pending Messages in the stream not yet delivered to the consumer (lag).", "# TYPE sluice_consumer_pending gauge");
  for (const l of lag) lines.push(`sluice_consumer_pending{consumer="${esc(l.consumer)}",stream="${esc(l.stream)}"} ${l.pending}`);
  lines.push("# HELP sluice_consumer_ack_pending Messages delivered to the consumer and not yet acknowledged.", "# TYPE sluice_consumer_ack_pending gauge");
  for (const l of lag) lines.push(`sluice_consumer_ack_pending{consumer="${esc(l.consumer)}",stream="${esc(l.stream)}"} ${l.ackPending}`);
  lines.push("# HELP sluice_denied_total Requests refused for lack of privilege (read-only SQL over NATS, API tokens and roles).", "# TYPE sluice_denied_total counter");
  for (const d of allDenials()) lines.push(`sluice_denied_total{surface="${d.surface}",reason="${esc(d.reason)}"} ${d.count}`);
  // The scheduled jobs' series, when this process runs the scheduler (jobs/metrics.ts).
  return lines.join("\n") + "\n" + jobMetricsText() + processMemoryText() + eventLoopDelayText();
}

interface PostedPoint {
  timestamp: number;
  value: number;
}

function points(body: unknown): { series: string; points: PostedPoint[] } {
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw new RequestError("body", "the body must be a JSON object", '{"series": "s1", "points": [{"timestamp": "2026-01-01T00:00:00Z", "value": 1.5}]} or {"series": "s1", "timestamp": …, "value": …}');
  }
  const b = body as Record<string, unknown>;
  const series = check.name(typeof b.series === "string" ? b.series : b.series === undefined ? "default" : "\u0000", "series", true)!;
  const raw = Array.isArray(b.points) ? b.points : b.points === undefined ? [b] : undefined;
  if (!raw) throw new RequestError("points", "points must be an array", '[{"timestamp": …, "value": …}]');
  if (raw.length === 0) throw new RequestError("points", "points is empty", "post at least one point");
  if (raw.length > MAX_BATCH) throw new RequestError("points", `at most ${MAX_BATCH} points per request, got ${raw.length}`, "split the batch", 413);
  const out: PostedPoint[] = [];
  raw.forEach((p, i) => {
    const field = Array.isArray(b.points) ? `points[${i}]` : "";
    const at = (f: string) => (field ? `${field}.${f}` : f);
    const q = (p ?? {}) as Record<string, unknown>;
    const ts = typeof q.timestamp === "number" ? q.timestamp : typeof q.timestamp === "string" ? Date.parse(q.timestamp) : NaN;
    if (!Number.isFinite(ts)) throw new RequestError(at("timestamp"), `${at("timestamp")} is missing or not a time`, "RFC 3339 text or epoch milliseconds");
    if (typeof q.value !== "number" || !Number.isFinite(q.value)) throw new RequestError(at("value"), `${at("value")} must be a finite number`, "e.g. 21.5");
    if (out.length && ts < out[out.length - 1].timestamp) throw new RequestError(at("timestamp"), `${at("timestamp")} is earlier than the point before it`, "send points in time order");
    out.push({ timestamp: ts, value: q.value });
  });
  return { series, points: out };
}

/**
 * The HTTP API: forecasts, scoring, anomalies, windows, health, readiness, Prometheus metrics
 * and its own OpenAPI document. Bad requests get 4xx `{ error: { field, message, hint } }`;
 * anything else a 500 with no internals.
 *
 * @example
 * const app = createApp(deps);
 * const res = await app.request("/v1/windows?source=iot&key=sensor-1&since=2h");
 */
export function createApp(deps: ApiDeps): Hono {
  const now = deps.now ?? Date.now;
  // An evicted series' detector frees its WebAssembly scan memory at once: the collector does not
  // see that memory, so many series coming and going between collections would grow it unbounded.
  const detectors = new Lru<UnivariateDetector>(deps.maxSeries ?? 1_000, (_series, d) => d.release());
  const scoring = deps.scoring ?? new ScoringQueue();
  // Measures from now on, so the first scrape already covers the time since the API started.
  eventLoopDelay();
  const app = new Hono();
  const guard = guards(deps.guard ?? {}, problem);
  for (const m of guard.cors) app.use("*", m);
  if (deps.auth) app.use("*", authorize(deps.auth, problem));
  for (const m of guard.limits) app.use("*", m);
  app.use("/v1/*", requestTimeout(deps.guard?.requestTimeoutMs ?? GUARD_DEFAULTS.requestTimeoutMs, problem));

  app.onError((err, c) => {
    if (err instanceof RequestError) return problem(c, err.status, err.field, err.message, err.hint);
    if (err instanceof QueueFullError) {
      c.header("retry-after", "1");
      return problem(c, 503, undefined, err.message, "retry after a second, or send fewer concurrent requests");
    }
    return problem(c, 500, undefined, "internal error", "see the server log; retry later");
  });
  app.notFound((c) => problem(c, 404, "path", `no route ${c.req.method} ${c.req.path}`, "GET /openapi.json lists every route"));

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const probe = async (f: () => Promise<void>) => {
      try {
        await withTimeout(f(), READY_TIMEOUT_MS);
        return { ok: true };
      } catch (err) {
        // Only the kind of failure: a driver's message can carry internal URLs and paths.
        const e = err as Error;
        return { ok: false, error: e.name === "TimeoutError" ? `no answer within ${READY_TIMEOUT_MS} ms` : `unavailable (${e.name || "Error"}); the server log has the detail` };
      }
    };
    const [nats, clickhouse] = await Promise.all([probe(deps.pingNats), probe(deps.pingClickHouse)]);
    // Judged by the runtime from what it sees (otel/metrics.ts judgeStuck); real time, not `now`.
    const stuck = [...deps.metrics()].filter(([, m]) => m.stuck).map(([actor, m]) =>
      `actor ${actor} is stuck: ${m.pending} pending in the stream, ${m.inFlight} in flight, ${m.held} held, no ack for ${Math.round((Date.now() - m.lastProgressAt) / 1000)} s (limit ${Math.round(m.stuckAfterMs / 1000)} s)`);
    const actors = stuck.length ? { ok: false, error: stuck.join("; ") } : { ok: true };
    const ready = nats.ok && clickhouse.ok && actors.ok;
    return c.json({ ready, checks: { nats, clickhouse, actors } }, ready ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    const lag = deps.lag ? await withTimeout(deps.lag(), READY_TIMEOUT_MS).catch(() => []) : [];
    return c.text(prometheus(deps.metrics(), lag), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  app.get("/openapi.json", (c) => c.json(openApiDocument()));

  app.get("/v1/anomalies", async (c) => {
    const q = c.req.query();
    const source = check.source(q.source, "source", false);
    const key = check.name(q.key, "key", false);
    const from = check.since(q.since, now(), 3_600_000);
    const minScore = check.number(q.min_score, "min_score", 0, 0, 1);
    const limit = check.number(q.limit, "limit", 100, 1, 10_000, true);
    const where = [`event_time >= ${sqlTime(from)}`, `score >= ${minScore}`];
    if (source) where.push(`source = ${quoteString(source)}`);
    if (key) where.push(`key = ${quoteString(key)}`);
    const rows = await deps.rows(`SELECT event_id, trace_id, source, key, metric, score, severity, signal, explanation,
       expected_low, expected_high, observed, event_time, detected_at
FROM sluice.anomalies FINAL
WHERE ${where.join(" AND ")}
ORDER BY event_time DESC
LIMIT ${limit}`);
    const anomalies = rows.map((r) => ({
      ...r,
      score: Number(r.score),
      expected: { low: Number(r.expected_low), high: Number(r.expected_high) },
      observed: Number(r.observed),
      explanation: JSON.parse(String(r.explanation || "{}")),
      event_time: isoTime(r.event_time),
      detected_at: isoTime(r.detected_at),
      expected_low: undefined,
      expected_high: undefined,
    }));
    return c.json({ anomalies, count: anomalies.length });
  });

  app.get("/v1/windows", async (c) => {
    const q = c.req.query();
    const source = check.source(q.source)!;
    const key = check.name(q.key, "key", false);
    const metric = check.name(q.metric, "metric", false);
    const from = check.since(q.since, now(), 3_600_000);
    const limit = check.number(q.limit, "limit", 500, 1, 10_000, true);
    // A retracted or moved window is stored as a newer version with count 0.
    const where = [`source = ${quoteString(source)}`, `window_start >= ${sqlTime(from)}`, "count > 0"];
    if (key) where.push(`key = ${quoteString(key)}`);
    if (metric) where.push(`metric = ${quoteString(metric)}`);
    const rows = await deps.rows(`SELECT window_id, source, kind, key, metric, window_start, window_end, count, sum, min, max, mean, stddev, p50, p95, p99, version
FROM sluice.window_aggregates FINAL
WHERE ${where.join(" AND ")}
ORDER BY window_start DESC
LIMIT ${limit}`);
    const windows = rows.map((r) => ({
      ...r,
      window_start: isoTime(r.window_start),
      window_end: isoTime(r.window_end),
      count: Number(r.count),
      version: Number(r.version),
    }));
    return c.json({ windows, count: windows.length });
  });

  app.get("/v1/forecast/:series", async (c) => {
    const raw = c.req.param("series");
    const parts = raw.split(":");
    if (parts.length < 3) throw new RequestError("series", `series ${JSON.stringify(raw.slice(0, 60))} is not <source>:<key>:<metric>`, "e.g. iot:sensor-1:temperature");
    const source = check.source(parts[0], "series")!;
    const metric = check.name(parts[parts.length - 1], "series", true)!;
    const key = check.name(parts.slice(1, -1).join(":"), "series", true)!;
    const horizon = check.number(c.req.query("horizon"), "horizon", 12, 1, 1_000, true);
    if (!deps.forecast) return problem(c, 503, undefined, "forecasting is not available in this process", "run sluice up with a ClickHouse the API can read");
    const result = await deps.forecast({ source, key, metric }, horizon);
    if (!result) return problem(c, 404, "series", `no history for ${source}:${key}:${metric} in sluice.window_aggregates`, "check the key and metric with GET /v1/windows (<metric>.count is the volume); at least 2 one-minute windows are needed");
    const f = result.forecast;
    return c.json({
      series: `${source}:${key}:${metric}`,
      horizon,
      history_points: result.points,
      made_at: new Date(result.madeAt).toISOString(),
      fitted: result.fitted,
      model: f.model,
      level: f.level,
      points: f.mean.map((mean, i) => ({ timestamp: new Date(f.timestamps[i]).toISOString(), mean, lower: f.lower[i], upper: f.upper[i] })),
    });
  });

  app.post("/v1/predict", async (c) => {
    // The exact media type is checked for every POST (api/guard.ts); here it must be there at all.
    if (c.req.header("content-type") === undefined) throw new RequestError("content-type", "the body must be JSON", "send content-type: application/json", 415);
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new RequestError("body", "the body is not valid JSON", '{"series": "s1", "points": [{"timestamp": 1767225600000, "value": 1.5}]}');
    }
    const posted = points(body);
    // Queued and chunked (api/guard.ts): a burst of batches cannot hold the loop the actors share.
    // The detector is looked up inside the job, when no other job runs: looked up before the
    // wait, a burst of other series could evict (release) it while this request still scores
    // with it, and a released detector's scan takes memory only the collector gives back.
    let detector: UnivariateDetector | undefined;
    const scored = await scoring.run(posted.points.length, (i) => {
      detector ??= detectors.upsert(posted.series, () => createUnivariateDetector());
      const p = posted.points[i]!;
      const { score, explanation } = detector.update(p.timestamp, p.value);
      return { timestamp: new Date(p.timestamp).toISOString(), value: p.value, score, explanation };
    });
    return c.json({ series: posted.series, points: scored });
  });

  app.route("/", dashboard({ ...deps, now }));

  return app;
}
