import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { queries, type Period } from "../clickhouse/queries.ts";
import type { Topology } from "../subjects/topology.ts";
import type { ActorMetrics } from "../otel/metrics.ts";
import type { ConsumerLag, QueryRows } from "./deps.ts";
import { payloadText, type DeadLetter, type DeadLetterAccess } from "./dlq.ts";
import { isoTime } from "./time.ts";
import type { ReportEntry } from "../reports/store.ts";
import { eventLineage } from "../lineage/event.ts";
import { NOT_SHOWN_RAW, redactRaw } from "../pii/index.ts";
import { windowLineage } from "../lineage/window.ts";
import type { RawReader } from "../lineage/raw.ts";
import type { ReferenceReader } from "../lineage/refs.ts";
import * as check from "./validate.ts";
import { RequestError } from "./validate.ts";
import { auditEntry, type AuditEntry } from "../auth/audit.ts";

/** What the dashboard's pages read beyond the SQL every route has. */
export interface DashboardDeps {
  rows: QueryRows;
  metrics: () => ReadonlyMap<string, ActorMetrics>;
  lag?: () => Promise<ConsumerLag[]>;
  /** The dataset graph of the running actors, from their declarations (given by the process that starts both). */
  topology?: Topology;
  /** Absent: the dead-letter routes answer 404. */
  deadLetters?: DeadLetterAccess;
  /** Jaeger's UI; each anomaly links to `<url>/trace/<trace_id>`. */
  jaegerUiUrl?: string;
  reports?: () => readonly ReportEntry[];
  /** Each source's watermark as the window actor in this process holds it (given by the process that runs both). */
  watermarks?: () => ReadonlyArray<{ source: string; watermark: number | null; lag_ms: number | null }>;
  /** RAW by sequence, for an event's lineage; absent: the raw message is not shown. */
  raw?: RawReader;
  /** Reference entries at a revision (KV history), for an enriched event's lineage; absent: revisions without values. */
  references?: ReferenceReader;
  /** Where privileged actions (a replay) are recorded: sluice.audit, directly or through its owner. */
  audit?: (entry: AuditEntry) => Promise<void>;
  now: () => number;
}

const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "web");
const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};
/** uPlot, served from node_modules: no CDN, no bundler. */
const VENDOR: Record<string, string> = {
  "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
  "uPlot.min.css": "uplot/dist/uPlot.min.css",
};

/** The files a page may ask for, read once: a name not listed here is a 404, never a path walk. */
function staticFiles(): Map<string, { body: string; type: string }> {
  const files = new Map<string, { body: string; type: string }>();
  for (const name of readdirSync(WEB_DIR)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type) files.set(name, { body: readFileSync(join(WEB_DIR, name), "utf8"), type });
  }
  const resolve = createRequire(import.meta.url).resolve;
  for (const [name, module] of Object.entries(VENDOR)) files.set(`vendor/${name}`, { body: readFileSync(resolve(module), "utf8"), type: CONTENT_TYPES[extname(name)] });
  return files;
}

const num = (v: unknown) => Number(v);

/** A dead letter as the page lists it: the payload as text when it is UTF-8, cut to `preview` characters. */
function deadLetterJson(dl: DeadLetter, preview?: number) {
  const text = payloadText(dl);
  return {
    id: dl.id, actor: dl.actor, source: dl.source, code: dl.code, reason: dl.reason,
    original_subject: dl.originalSubject, original_stream: dl.originalStream, original_seq: dl.originalSeq,
    deliveries: dl.deliveries, replay_count: dl.replayCount, failed_at: new Date(dl.failedAt).toISOString(),
    payload: text === undefined ? undefined : preview === undefined ? text : text.slice(0, preview),
    payload_bytes: dl.data.length,
    ...(preview === undefined ? { headers: dl.headers } : {}),
  };
}

/**
 * The dashboard (`/ui/`, static pages in `web/`) and the JSON routes only its pages need:
 * topology, a pipeline summary, per-source volumes, the series list, and dead letters with replay.
 */
export function dashboard(deps: DashboardDeps): Hono {
  const files = staticFiles();
  const app = new Hono();
  const period = (since: string | undefined, fallbackMs: number): Period => {
    const toMs = deps.now();
    return { fromMs: check.since(since, toMs, fallbackMs), toMs: toMs + 1_000 };
  };
  const deadLetters = (): DeadLetterAccess => {
    if (!deps.deadLetters) throw new RequestError("path", "dead letters are not available in this process", "run the API with a NATS connection (sluice up)", 404);
    return deps.deadLetters;
  };

  app.get("/", (c) => c.redirect("/ui/"));
  app.get("/ui/", (c) => c.html(files.get("index.html")!.body));
  app.get("/ui/config.json", (c) => c.json({ jaeger_ui_url: deps.jaegerUiUrl ?? null }));
  const serve = (name: string) => {
    const file = files.get(name);
    if (!file) throw new RequestError("path", `no file ${JSON.stringify(name.slice(0, 80))} in the dashboard`, "open /ui/", 404);
    return new Response(file.body, { headers: { "content-type": file.type, "cache-control": "no-cache" } });
  };
  app.get("/ui/vendor/:file", (c) => serve(`vendor/${c.req.param("file")}`));
  app.get("/ui/:file", (c) => serve(c.req.param("file")));

  app.get("/v1/topology", (c) => {
    if (!deps.topology) throw new RequestError("path", "this process was not given the pipeline's topology", "the API started by sluice up has it", 404);
    return c.json(deps.topology);
  });

  app.get("/v1/pipeline", async (c) => {
    const p = period(c.req.query("since"), 3_600_000);
    const [volumes, deadLetterRows, quality, lag] = await Promise.all([
      deps.rows(queries.volumes(p)),
      deps.rows(queries.deadLettersByReason(p)),
      deps.rows(queries.dataQuality(p)),
      deps.lag ? deps.lag().catch(() => []) : Promise.resolve([]),
    ]);
    const actors = [...deps.metrics()].sort(([a], [b]) => a.localeCompare(b)).map(([name, m]) => ({
      name, received: m.received, acked: m.acked, emitted: m.emitted, dead_lettered: m.deadLettered, errors: m.errors, restarts: m.restarts, held: m.held, stuck: m.stuck === 1,
    }));
    const marks = new Map((deps.watermarks?.() ?? []).map((w) => [w.source, w]));
    const watermarkOf = (source: string) => {
      const w = marks.get(source)?.watermark;
      return w === null || w === undefined ? null : new Date(w).toISOString();
    };
    return c.json({
      from: new Date(p.fromMs).toISOString(),
      at: new Date(deps.now()).toISOString(),
      actors,
      lag,
      sources: volumes.map((r) => ({ source: r.source, events: num(r.events), keys: num(r.keys), watermark: watermarkOf(String(r.source)), newest_event_time: isoTime(r.latest_event_time), latest_ingest: isoTime(r.latest_ingest_time) })),
      dead_letters: deadLetterRows.map((r) => ({ actor: r.actor, code: r.error_code, count: num(r.dead_letters) })),
      data_quality: quality.map((r) => {
        const evaluated = num(r.evaluated);
        const failed = num(r.failed);
        return { source: r.source, expectation: r.expectation, severity: r.severity, evaluated, failed, pass_rate: evaluated ? (evaluated - failed) / evaluated : 1 };
      }),
    });
  });

  app.get("/v1/sources/:source", async (c) => {
    const source = check.source(c.req.param("source"))!;
    const p = period(c.req.query("since"), 3_600_000);
    const limit = check.number(c.req.query("limit"), "limit", 10, 1, 100, true);
    const [perMinute, top] = await Promise.all([deps.rows(queries.eventsPerMinute(p)), deps.rows(queries.topKeys(source, p, limit))]);
    return c.json({
      source,
      per_minute: perMinute.filter((r) => r.source === source).map((r) => ({ minute: new Date(num(r.minute) * 1000).toISOString(), events: num(r.events) })),
      top_keys: top.map((r) => ({ key: r.key, events: num(r.events) })),
    });
  });

  app.get("/v1/series", async (c) => {
    const p = period(c.req.query("since"), 24 * 3_600_000);
    const rows = await deps.rows(queries.series(p, check.number(c.req.query("limit"), "limit", 200, 1, 1_000, true)));
    return c.json({ series: rows.map((r) => ({ series: `${r.source}:${r.key}:${r.metric}`, source: r.source, key: r.key, metric: r.metric, windows: num(r.windows) })) });
  });

  // Ids are hex, producer ids or derived ones: any text up to 200 characters, quoted in SQL.
  const lineageId = (raw: string, field: string) => {
    if (raw.length === 0 || raw.length > 200) throw new RequestError(field, `${field} must be 1–200 characters`, "the id as sluice.events or sluice.window_aggregates has it");
    return raw;
  };
  app.get("/v1/lineage/events/:id", async (c) => {
    const l = await eventLineage(lineageId(c.req.param("id"), "id"), { rows: deps.rows, raw: deps.raw, references: deps.references });
    if (!l.event && l.dead_letters.length === 0) throw new RequestError("id", "no event or dead letter with this id", "event ids are in sluice.events and on each anomaly", 404);
    // A viewer reads this: the raw message's fields the stored event holds protected are withheld (pii/redact.ts).
    if (l.event && !("gone" in l.raw)) return c.json({ ...l, raw: { ...l.raw, text: (l.raw.text !== undefined && redactRaw(l.raw.text, l.event.payload)) || NOT_SHOWN_RAW, base64: undefined } });
    return c.json(l);
  });
  app.get("/v1/lineage/windows/:id", async (c) => {
    const l = await windowLineage(lineageId(c.req.param("id"), "id"), { rows: deps.rows, limit: check.number(c.req.query("limit"), "limit", 100, 1, 10_000, true) });
    if (!l.window) throw new RequestError("id", "no window with this id", "window ids are in sluice.window_aggregates and in an event's lineage", 404);
    return c.json(l);
  });

  app.get("/v1/reports", (c) => c.json({ reports: deps.reports?.() ?? [] }));

  app.get("/v1/dlq", async (c) => {
    const q = c.req.query();
    const letters = await deadLetters().list({
      actor: check.name(q.actor, "actor", false),
      source: check.name(q.source, "source", false),
      reason: q.reason ? q.reason.slice(0, 200) : undefined,
      limit: check.number(q.limit, "limit", 200, 1, 5_000, true),
    });
    return c.json({ dead_letters: letters.reverse().map((dl) => deadLetterJson(dl, 200)), count: letters.length });
  });

  const idOf = (raw: string) => check.number(raw, "id", 0, 1, Number.MAX_SAFE_INTEGER, true);
  app.get("/v1/dlq/:id", async (c) => {
    const id = idOf(c.req.param("id"));
    const dl = await deadLetters().get(id);
    if (!dl) throw new RequestError("id", `no dead letter ${id} in the DLQ stream`, "it was purged, replayed and purged, or expired; GET /v1/dlq lists what is there", 404);
    return c.json(deadLetterJson(dl));
  });

  app.post("/v1/dlq/:id/replay", async (c) => {
    const id = idOf(c.req.param("id"));
    const access = deadLetters();
    const dl = await access.get(id);
    if (!dl) throw new RequestError("id", `no dead letter ${id} in the DLQ stream`, "GET /v1/dlq lists what is there", 404);
    const [result] = await access.replay([dl]);
    if (result.error) throw new Error(`replay of dead letter ${id} failed: ${result.error}`);
    const who = c.get("principal");
    // Recorded after the fact; a failure to record does not undo the replay, it is logged by the caller's writer.
    await deps.audit?.(auditEntry({ actor: who?.name ?? "anonymous (no API tokens)", role: who?.role ?? "", via: "api", action: "dlq.replay", target: `dlq:${id}`, detail: `event ${result.eventId ?? "?"}${result.duplicate ? " (duplicate)" : ""}` }));
    return c.json({ id, subject: result.subject, event_id: result.eventId, duplicate: result.duplicate });
  });

  return app;
}
