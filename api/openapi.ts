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

export function openApiDocument(): Record<string, unknown> {
  return {
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
    },
  };
}
