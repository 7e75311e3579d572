import { isOpenPath } from "./auth.ts";
/** The API's OpenAPI 3.1 document, written by hand next to the routes (tests check it lists every one). */

const error = {
  description: "The request is wrong: which field, what is wrong, how to fix it",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
};
const internal = {
  description: "Something failed on the server; no internals are returned",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
};
const json = (schema: Record<string, unknown>, description: string) => ({ description, content: { "application/json": { schema } } });
const param = (name: string, description: string, schema: Record<string, unknown>, required = false, where: "query" | "path" = "query") =>
  ({ name, in: where, required, description, schema });

const sourceParam = (required: boolean) => param("source", "iot, social or txn", { type: "string", enum: ["iot", "social", "txn"] }, required);
const sinceParam = param("since", "RFC 3339, epoch ms, or a duration back from now (15m, 2h, 7d); default 1h", { type: "string" });
const limitParam = (max: number, dflt: number) => param("limit", `rows at most (1–${max})`, { type: "integer", minimum: 1, maximum: max, default: dflt });

const html = (description: string) => ({ description, content: { "text/html": { schema: { type: "string" } } } });
const period = param("since", "start of the period: RFC 3339, epoch ms or a duration back (1h, 24h); default 1h", { type: "string" });
const dlqId = param("id", "the dead letter's DLQ stream sequence", { type: "integer", minimum: 1 }, true, "path");
const obj = (properties: Record<string, unknown>) => ({ type: "object", properties });
const list = (items: Record<string, unknown>) => ({ type: "array", items });

/** The dashboard's pages and the JSON only its pages need (api/dashboard.ts). */
function dashboardPaths(): Record<string, unknown> {
  return {
    "/": { get: { summary: "Redirects to the dashboard", responses: { 302: { description: "to /ui/" } } } },
    "/ui/": { get: { summary: "The dashboard: Pipeline, Sources, Anomalies, Forecasts, Dead letters", responses: { 200: html("the page") } } },
    "/ui/config.json": { get: { summary: "What the pages need to know of the deployment (Jaeger UI URL)", responses: { 200: json(obj({ jaeger_ui_url: { type: ["string", "null"] } }), "settings") } } },
    "/ui/{file}": { get: { summary: "A dashboard script or style sheet", parameters: [param("file", "e.g. app.js", { type: "string" }, true, "path")], responses: { 200: { description: "the file" }, 404: error } } },
    "/ui/vendor/{file}": { get: { summary: "uPlot, served from node_modules", parameters: [param("file", "uPlot.iife.min.js or uPlot.min.css", { type: "string" }, true, "path")], responses: { 200: { description: "the file" }, 404: error } } },
    "/v1/topology": {
      get: {
        summary: "The dataset graph of the running actors, from their declarations: streams, actors, tables, edges",
        responses: { 200: json(obj({ streams: list(obj({ name: { type: "string" }, subjects: list({ type: "string" }) })), actors: list(obj({ name: { type: "string" }, reads: { type: "string" }, durable: { type: "string" }, emits: list({ type: "string" }), writes: list({ type: "string" }) })), tables: list({ type: "string" }), edges: list(obj({ from: { type: "string" }, to: { type: "string" } })) }), "the graph"), 404: error },
      },
    },
    "/v1/pipeline": {
      get: {
        summary: "Per-actor counters, consumer lag, per-source volumes and watermark, dead letters per reason, data-quality pass rates",
        parameters: [period],
        responses: { 200: json(obj({ from: { type: "string" }, at: { type: "string" }, actors: list({ type: "object" }), lag: list({ type: "object" }), sources: list(obj({ source: { type: "string" }, events: { type: "integer" }, keys: { type: "integer" }, watermark: { type: ["string", "null"], description: "the window actor's, when it runs in this process" }, newest_event_time: { type: "string" } })), dead_letters: list(obj({ actor: { type: "string" }, code: { type: "string" }, count: { type: "integer" } })), data_quality: list(obj({ source: { type: "string" }, expectation: { type: "string" }, evaluated: { type: "integer" }, failed: { type: "integer" }, pass_rate: { type: "number" } })) }), "the summary"), 400: error, 500: internal },
      },
    },
    "/v1/sources/{source}": {
      get: {
        summary: "One source: events per minute of arrival and its busiest keys",
        parameters: [param("source", "iot, social or txn", { type: "string" }, true, "path"), period, limitParam(100, 10)],
        responses: { 200: json(obj({ source: { type: "string" }, per_minute: list(obj({ minute: { type: "string" }, events: { type: "integer" } })), top_keys: list(obj({ key: { type: "string" }, events: { type: "integer" } })) }), "volumes"), 400: error, 500: internal },
      },
    },
    "/v1/series": {
      get: {
        summary: "Series with tumbling windows in the period, for the forecast picker",
        parameters: [period, limitParam(1_000, 200)],
        responses: { 200: json(obj({ series: list(obj({ series: { type: "string" }, windows: { type: "integer" } })) }), "series"), 400: error, 500: internal },
      },
    },
    "/v1/lineage/events/{id}": {
      get: {
        summary: "An event's lineage: events row, RAW message while RAW has it, schema, trace, windows it was counted in, late record, anomalies, dead letters",
        parameters: [param("id", "event id", { type: "string" }, true, "path")],
        responses: { 200: json({ type: "object" }, "the lineage (lineage/event.ts EventLineage)"), 400: error, 404: error, 500: internal },
      },
    },
    "/v1/lineage/windows/{id}": {
      get: {
        summary: "A window's lineage: definition, every version, and its input events",
        parameters: [param("id", "window id", { type: "string" }, true, "path"), limitParam(10_000, 100)],
        responses: { 200: json({ type: "object" }, "the lineage (lineage/window.ts WindowLineage)"), 400: error, 404: error, 500: internal },
      },
    },
    "/v1/reports": {
      get: {
        summary: "The newest reports written to the state dir (sluice report, SLUICE_REPORT_CRON)",
        responses: { 200: json(obj({ reports: list(obj({ name: { type: "string" }, from: { type: "string" }, to: { type: "string" }, generated_at: { type: "string" }, files: list({ type: "string" }), events: { type: "integer" }, dead_letters: { type: "integer" }, anomalies: { type: "integer" } })) }), "reports") },
      },
    },
    "/v1/dlq": {
      get: {
        summary: "Dead letters in the DLQ stream, newest first (payload cut to 200 characters)",
        parameters: [param("actor", "actor name", { type: "string" }), param("source", "source", { type: "string" }), param("reason", "error code, or part of the reason", { type: "string" }), limitParam(5_000, 200)],
        responses: { 200: json(obj({ count: { type: "integer" }, dead_letters: list({ $ref: "#/components/schemas/DeadLetter" }) }), "dead letters"), 400: error, 404: error, 500: internal },
      },
    },
    "/v1/dlq/{id}": { get: { summary: "One dead letter with its whole payload and headers", parameters: [dlqId], responses: { 200: json({ $ref: "#/components/schemas/DeadLetter" }, "the dead letter"), 400: error, 404: error, 500: internal } } },
    "/v1/dlq/{id}/replay": {
      post: {
        summary: "Republishes the dead letter to its original subject with its original event id",
        parameters: [dlqId],
        responses: { 200: json(obj({ id: { type: "integer" }, subject: { type: "string" }, event_id: { type: "string" }, duplicate: { type: "boolean" } }), "stored again"), 400: error, 404: error, 500: internal },
      },
    },
  };
}

export function openApiDocument(): Record<string, unknown> {
  const doc = {
    openapi: "3.1.0",
    info: { title: "sluice API", version: "1.0.0", description: "Anomalies, windows, forecasts and scoring next to the data; health, readiness and Prometheus metrics." },
    paths: {
      "/healthz": { get: { summary: "Liveness: the process answers", responses: { 200: json({ type: "object", properties: { status: { const: "ok" } } }, "alive") } } },
      "/readyz": {
        get: {
          summary: "Readiness: NATS and ClickHouse reachable",
          responses: {
            200: json({ $ref: "#/components/schemas/Ready" }, "both reachable"),
            503: json({ $ref: "#/components/schemas/Ready" }, "one of them is not; `checks` says which and why"),
          },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus text: per-actor throughput, errors, dead letters, restarts; per-consumer lag",
          responses: { 200: { description: "text exposition format 0.0.4", content: { "text/plain": { schema: { type: "string" } } } } },
        },
      },
      "/openapi.json": { get: { summary: "This document", responses: { 200: json({ type: "object" }, "OpenAPI 3.1") } } },
      "/v1/anomalies": {
        get: {
          summary: "Anomalies the detect actor stored, newest first",
          parameters: [sourceParam(false), param("key", "sensor, customer or topic", { type: "string" }), sinceParam,
            param("min_score", "lowest score, 0–1", { type: "number", minimum: 0, maximum: 1, default: 0 }), limitParam(10_000, 100)],
          responses: {
            200: json({ type: "object", properties: { count: { type: "integer" }, anomalies: { type: "array", items: { $ref: "#/components/schemas/Anomaly" } } } }, "anomalies"),
            400: error,
            500: internal,
          },
        },
      },
      "/v1/windows": {
        get: {
          summary: "Window aggregates (sluice.window_aggregates FINAL), newest first",
          parameters: [sourceParam(true), param("key", "entity key", { type: "string" }), param("metric", "metric name", { type: "string" }), sinceParam, limitParam(10_000, 500)],
          responses: {
            200: json({ type: "object", properties: { count: { type: "integer" }, windows: { type: "array", items: { $ref: "#/components/schemas/Window" } } } }, "windows"),
            400: error,
            500: internal,
          },
        },
      },
      "/v1/forecast/{series}": {
        get: {
          summary: "Forecast of a series with prediction intervals",
          parameters: [
            param("series", "<source>:<key>:<metric>, e.g. iot:sensor-1:temperature, txn:merchant=m-1:amount; <metric>.count is the volume (window count)", { type: "string" }, true, "path"),
            param("horizon", "steps (1-minute windows) ahead, 1–1000", { type: "integer", minimum: 1, maximum: 1000, default: 12 }),
          ],
          responses: {
            200: json({ $ref: "#/components/schemas/Forecast" }, "the forecast"),
            400: error,
            404: error,
            503: json({ $ref: "#/components/schemas/Error" }, "forecasting is not available in this process"),
            500: internal,
          },
        },
      },
      "/v1/predict": {
        post: {
          summary: "Score a point or a batch with the univariate detector; state is kept per series between calls",
          requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/PredictRequest" } } } },
          responses: {
            200: json({ $ref: "#/components/schemas/PredictResponse" }, "one score per point"),
            400: error,
            413: error,
            415: error,
            500: internal,
          },
        },
      },
      ...dashboardPaths(),
    },
    components: {
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: { error: { type: "object", required: ["message", "hint"], properties: { field: { type: "string" }, message: { type: "string" }, hint: { type: "string" } } } },
        },
        Ready: {
          type: "object",
          properties: {
            ready: { type: "boolean" },
            checks: { type: "object", properties: { nats: { $ref: "#/components/schemas/Check" }, clickhouse: { $ref: "#/components/schemas/Check" } } },
          },
        },
        DeadLetter: {
          type: "object",
          properties: {
            id: { type: "integer" }, actor: { type: "string" }, source: { type: "string" }, code: { type: "string" }, reason: { type: "string" },
            original_subject: { type: "string" }, original_stream: { type: "string" }, original_seq: { type: "integer" }, deliveries: { type: "integer" },
            replay_count: { type: "integer" }, failed_at: { type: "string", format: "date-time" }, payload: { type: "string" }, payload_bytes: { type: "integer" },
            headers: { type: "object", additionalProperties: { type: "string" } },
          },
        },
        Check: { type: "object", properties: { ok: { type: "boolean" }, error: { type: "string" } } },
        Range: { type: "object", properties: { low: { type: "number" }, high: { type: "number" } } },
        Anomaly: {
          type: "object",
          properties: {
            event_id: { type: "string" }, trace_id: { type: "string" }, source: { type: "string" }, key: { type: "string" }, metric: { type: "string" },
            score: { type: "number" }, severity: { type: "string", enum: ["low", "medium", "high"] }, signal: { type: "string" },
            explanation: { type: "object" }, expected: { $ref: "#/components/schemas/Range" }, observed: { type: "number" },
            event_time: { type: "string", format: "date-time" }, detected_at: { type: "string", format: "date-time" },
          },
        },
        Window: {
          type: "object",
          properties: {
            window_id: { type: "string" }, source: { type: "string" }, kind: { type: "string" }, key: { type: "string" }, metric: { type: "string" },
            window_start: { type: "string", format: "date-time" }, window_end: { type: "string", format: "date-time" }, count: { type: "integer" },
            sum: { type: "number" }, min: { type: "number" }, max: { type: "number" }, mean: { type: "number" }, stddev: { type: "number" },
            p50: { type: "number" }, p95: { type: "number" }, p99: { type: "number" }, version: { type: "integer" },
          },
        },
        Forecast: {
          type: "object",
          properties: {
            series: { type: "string" }, horizon: { type: "integer" }, history_points: { type: "integer" }, model: { type: "object" }, level: { type: "number" },
            made_at: { type: "string", format: "date-time", description: "when the model was fitted" },
            fitted: { type: "string", enum: ["scheduled", "request"], description: "scheduled: from the hot set refitted every SLUICE_FORECAST_REFIT_MS; request: fitted for this request" },
            points: {
              type: "array",
              items: { type: "object", properties: { timestamp: { type: "string", format: "date-time" }, mean: { type: "number" }, lower: { type: "number" }, upper: { type: "number" } } },
            },
          },
        },
        Point: { type: "object", required: ["timestamp", "value"], properties: { timestamp: { type: ["string", "number"], description: "RFC 3339 or epoch ms" }, value: { type: "number" } } },
        PredictRequest: {
          type: "object",
          properties: {
            series: { type: "string", description: "detector state is kept per series name; default \"default\"" },
            points: { type: "array", maxItems: 10_000, items: { $ref: "#/components/schemas/Point" } },
            timestamp: { type: ["string", "number"], description: "a single point, instead of points" },
            value: { type: "number" },
          },
        },
        PredictResponse: {
          type: "object",
          properties: {
            series: { type: "string" },
            points: {
              type: "array",
              items: { type: "object", properties: { timestamp: { type: "string", format: "date-time" }, value: { type: "number" }, score: { type: "number" }, explanation: { type: "object" } } },
            },
          },
        },
      },
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "A token from `sluice api token create --role viewer|operator|admin`, required once any token exists (or with SLUICE_API_AUTH=required). viewer: GET routes and POST /v1/predict; operator: also dead-letter replay; admin: everything. 401 without a known, live token; 403 when the role is short; 429 past the token's rate (SLUICE_API_RATE per second).",
        },
      },
    },
    security: [{ bearer: [] }],
  };
  // Open without a token (/metrics unless SLUICE_API_METRICS_AUTH=on).
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Record<string, unknown>>>)) {
    if (isOpenPath(path)) for (const op of Object.values(ops)) op.security = [];
  }
  return doc;
}
