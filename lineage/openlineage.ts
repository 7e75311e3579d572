import { randomUUID } from "node:crypto";
import { appendFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { SCHEMAS_V1 } from "../subjects/schemas/index.ts";
import { SOURCES } from "../subjects/sources.ts";
import { nodeId, type Topology, type TopologyActor } from "../subjects/topology.ts";
import type { ActorMetrics } from "../otel/metrics.ts";
import type { Logger } from "../otel/log.ts";

/**
 * OpenLineage run events (spec 2-0-2) for the actors of a running pipeline: each actor is a job
 * whose inputs and outputs are its streams and tables (with schema facets), and each actor's run
 * goes START → RUNNING (every `everyMs`) → COMPLETE at stop; a restart counted by the supervisor
 * is a FAIL of the run and the START of the next. Sent to a Marquez-compatible HTTP endpoint or
 * appended to a file as NDJSON.
 */

export const OPENLINEAGE_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const SCHEMA_FACET_URL = "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const ERROR_FACET_URL = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
/** sluice has no public home to link; a URN is a URI the spec accepts as producer. */
const PRODUCER = "urn:sluice:openlineage";
/** Our own run facet (counters of the actor); it has no published schema document. */
const PROGRESS_FACET_URL = "urn:sluice:openlineage:SluiceProgressRunFacet";

export type RunEventType = "START" | "RUNNING" | "COMPLETE" | "ABORT" | "FAIL" | "OTHER";

export interface SchemaField {
  readonly name: string;
  readonly type?: string;
}

export interface OpenLineageDataset {
  readonly namespace: string;
  readonly name: string;
  readonly facets?: Record<string, unknown>;
}

export interface RunEvent {
  readonly eventType: RunEventType;
  readonly eventTime: string;
  readonly producer: string;
  readonly schemaURL: string;
  readonly run: { readonly runId: string; readonly facets?: Record<string, unknown> };
  readonly job: { readonly namespace: string; readonly name: string; readonly facets?: Record<string, unknown> };
  readonly inputs: readonly OpenLineageDataset[];
  readonly outputs: readonly OpenLineageDataset[];
}

/** Where run events go. */
export interface OpenLineageTransport {
  send(event: RunEvent): Promise<void>;
}

/** `http(s)://…`: POST to `<url>/api/v1/lineage` (Marquez); `file:///…`: one JSON line per event. */
export function transportFor(url: string, timeoutMs = 5_000): OpenLineageTransport {
  const parsed = new URL(url);
  if (parsed.protocol === "file:") {
    const path = fileURLToPath(parsed);
    return {
      async send(event) {
        await mkdir(dirname(path), { recursive: true });
        await appendFile(path, `${JSON.stringify(event)}\n`);
      },
    };
  }
  const endpoint = new URL(parsed.pathname.endsWith("/lineage") ? parsed.pathname : `${parsed.pathname.replace(/\/$/, "")}/api/v1/lineage`, parsed);
  return {
    async send(event) {
      const res = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(event), signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`OpenLineage endpoint ${endpoint.origin}${endpoint.pathname} answered ${res.status}`);
    },
  };
}

/** Where the datasets live: the NATS server (streams) and ClickHouse (tables), as OpenLineage namespaces. */
export interface DatasetNamespaces {
  /** e.g. nats://127.0.0.1:4222 (no credentials). */
  readonly nats: string;
  /** e.g. clickhouse://127.0.0.1:8123, or clickhouse://embedded for chDB. */
  readonly clickhouse: string;
}

/** A URL as a namespace: scheme, host and port only. */
export function namespaceOf(url: string | undefined, fallback: string): string {
  if (!url) return fallback;
  const first = url.split(",")[0].trim();
  try {
    const u = new URL(first);
    return `${u.protocol}//${u.host}`;
  } catch {
    return fallback;
  }
}

const ENVELOPE_FIELDS: readonly SchemaField[] = [
  { name: "event_id", type: "string" }, { name: "source", type: "string" }, { name: "key", type: "string" }, { name: "schema_version", type: "integer" },
  { name: "event_time", type: "integer" }, { name: "ingest_time", type: "integer" }, { name: "payload", type: "object" }, { name: "raw_subject", type: "string" }, { name: "raw_seq", type: "integer" },
];

/** RAW's fields: each source's v1 properties, named `<source>.<field>` (one stream, three payload schemas). */
function rawFields(): SchemaField[] {
  return SOURCES.flatMap((source) => Object.entries(SCHEMAS_V1[source].properties as Record<string, { type?: string }>).map(([name, p]) => ({ name: `${source}.${name}`, type: typeof p.type === "string" ? p.type : "any" })));
}

/** The schema facet of each stream we know the payload of; tables' come from the caller (ClickHouse's own columns). */
export function streamFields(stream: string): readonly SchemaField[] | undefined {
  if (stream === "RAW") return rawFields();
  if (stream === "EVENTS") return ENVELOPE_FIELDS;
  return undefined;
}

/** Table fields from ClickHouse's own catalog (`system.columns`), for the schema facets. */
export function tableFieldsFrom(rows: (sql: string) => Promise<Array<Record<string, unknown>>>): (table: string) => Promise<readonly SchemaField[] | undefined> {
  return async (table) => {
    const [database, name] = table.split(".");
    if (!/^\w+$/.test(database ?? "") || !/^\w+$/.test(name ?? "")) return undefined;
    const columns = await rows(`SELECT name, type FROM system.columns WHERE database = '${database}' AND table = '${name}'`);
    return columns.length ? columns.map((c) => ({ name: String(c.name), type: String(c.type) })) : undefined;
  };
}

export interface OpenLineageOptions {
  readonly topology: Topology;
  readonly transport: OpenLineageTransport;
  readonly metrics: () => ReadonlyMap<string, ActorMetrics>;
  readonly namespaces: DatasetNamespaces;
  /** Job namespace; default "sluice". */
  readonly jobNamespace?: string;
  /** Columns of a table (`sluice.events` → fields), e.g. from system.columns; undefined: no schema facet. */
  readonly tableFields?: (table: string) => Promise<readonly SchemaField[] | undefined>;
  /** RUNNING every this many ms; default 60 s. */
  readonly everyMs?: number;
  readonly log: Logger;
  readonly now?: () => number;
}

export interface OpenLineageEmitter {
  /** Emits RUNNING (or FAIL + START after a restart) for every actor now. */
  tick(): Promise<void>;
  /** COMPLETE for every run. */
  stop(): Promise<void>;
}

const facet = (schemaURL: string, body: Record<string, unknown>) => ({ _producer: PRODUCER, _schemaURL: schemaURL, ...body });

/** Starts the runs of every actor in `topology` (START now) and keeps them reported. */
export async function startOpenLineage(opts: OpenLineageOptions): Promise<OpenLineageEmitter> {
  const now = opts.now ?? Date.now;
  const jobNamespace = opts.jobNamespace ?? "sluice";
  const tables = new Map<string, readonly SchemaField[] | undefined>();
  for (const t of opts.topology.tables) tables.set(t, await opts.tableFields?.(t).catch(() => undefined));
  const dataset = (id: string): OpenLineageDataset => {
    const [kind, ...rest] = id.split(":");
    const name = rest.join(":");
    const fields = kind === "stream" ? streamFields(name) : tables.get(name);
    return {
      namespace: kind === "stream" ? opts.namespaces.nats : opts.namespaces.clickhouse,
      name,
      ...(fields ? { facets: { schema: facet(SCHEMA_FACET_URL, { fields }) } } : {}),
    };
  };
  const io = (actor: TopologyActor) => ({
    inputs: [dataset(nodeId.stream(actor.reads))],
    outputs: [...actor.emits.map((s) => dataset(nodeId.stream(s))), ...actor.writes.map((t) => dataset(nodeId.table(t)))],
  });
  const runs = new Map(opts.topology.actors.map((a) => [a.name, { runId: randomUUID(), restarts: opts.metrics().get(a.name)?.restarts ?? 0 }]));
  const send = async (actor: TopologyActor, eventType: RunEventType, runFacets?: Record<string, unknown>) => {
    const event: RunEvent = {
      eventType,
      eventTime: new Date(now()).toISOString(),
      producer: PRODUCER,
      schemaURL: OPENLINEAGE_SCHEMA_URL,
      run: { runId: runs.get(actor.name)!.runId, ...(runFacets ? { facets: runFacets } : {}) },
      job: { namespace: jobNamespace, name: actor.name },
      ...io(actor),
    };
    try {
      await opts.transport.send(event);
    } catch (err) {
      opts.log.warn(`openlineage: ${eventType} of ${actor.name} not sent: ${(err as Error).message}`);
    }
  };
  const progress = (name: string) => {
    const m = opts.metrics().get(name);
    return m ? { sluice_progress: facet(PROGRESS_FACET_URL, { received: m.received, acked: m.acked, emitted: m.emitted, dead_lettered: m.deadLettered, errors: m.errors }) } : undefined;
  };
  for (const actor of opts.topology.actors) await send(actor, "START");

  const tick = async () => {
    for (const actor of opts.topology.actors) {
      const run = runs.get(actor.name)!;
      const restarts = opts.metrics().get(actor.name)?.restarts ?? 0;
      if (restarts > run.restarts) {
        await send(actor, "FAIL", { errorMessage: facet(ERROR_FACET_URL, { message: `actor ${actor.name} crashed and was restarted (${restarts - run.restarts} time(s)); see the process log`, programmingLanguage: "TypeScript" }) });
        runs.set(actor.name, { runId: randomUUID(), restarts });
        await send(actor, "START");
      } else {
        await send(actor, "RUNNING", progress(actor.name));
      }
    }
  };
  let ticking: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    ticking = ticking.then(tick);
  }, opts.everyMs ?? 60_000);
  timer.unref();
  return {
    tick: () => (ticking = ticking.then(tick)),
    async stop() {
      clearInterval(timer);
      await ticking;
      for (const actor of opts.topology.actors) await send(actor, "COMPLETE", progress(actor.name));
    },
  };
}
