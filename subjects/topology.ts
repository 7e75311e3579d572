import { STREAMS, type StreamName } from "./catalog.ts";

/**
 * One actor as its declaration says: the stream it reads (and the durable, when it shares one),
 * the streams it publishes to, the ClickHouse tables it writes.
 */
export interface TopologyActor {
  readonly name: string;
  readonly reads: StreamName;
  /** The shared durable consumer; absent for keyed actors, which read from checkpoints. */
  readonly durable?: string;
  readonly emits: readonly StreamName[];
  readonly writes: readonly string[];
}

/**
 * The dataset graph of a pipeline: streams and tables are datasets, actors the jobs between them.
 * Built from the actor declarations (`actors/topology.ts`), never by hand, so the dashboard and
 * lineage draw what runs.
 *
 * @example
 * const t = topologyOf([{ name: "validate", reads: "RAW", emits: ["EVENTS", "DLQ"], writes: [] }]);
 * t.edges; // [{ from: "stream:RAW", to: "actor:validate" }, { from: "actor:validate", to: "stream:EVENTS" }, …]
 */
export interface Topology {
  readonly streams: ReadonlyArray<{ readonly name: StreamName; readonly subjects: readonly string[] }>;
  readonly actors: readonly TopologyActor[];
  readonly tables: readonly string[];
  readonly edges: ReadonlyArray<{ readonly from: string; readonly to: string }>;
}

/** Node ids of the graph: `stream:RAW`, `actor:validate`, `table:sluice.events`. */
export const nodeId = {
  stream: (name: string) => `stream:${name}`,
  actor: (name: string) => `actor:${name}`,
  table: (name: string) => `table:${name}`,
} as const;

export function topologyOf(actors: readonly TopologyActor[]): Topology {
  const used = new Set<StreamName>(actors.flatMap((a) => [a.reads, ...a.emits]));
  const streams = (Object.keys(STREAMS) as StreamName[]).filter((s) => used.has(s)).map((s) => ({ name: s, subjects: [...STREAMS[s].subjects] }));
  const tables = [...new Set(actors.flatMap((a) => a.writes))].sort();
  const edges = actors.flatMap((a) => [
    { from: nodeId.stream(a.reads), to: nodeId.actor(a.name) },
    ...a.emits.map((s) => ({ from: nodeId.actor(a.name), to: nodeId.stream(s) })),
    ...a.writes.map((t) => ({ from: nodeId.actor(a.name), to: nodeId.table(t) })),
  ]);
  return { streams, actors, tables, edges };
}
