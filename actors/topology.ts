import { topologyOf, type Topology, type TopologyActor } from "../subjects/topology.ts";
import type { ActorDefinition } from "./runtime/actor.ts";
import type { KeyedActorDefinition } from "./runtime/keyed/actor.ts";
import { ACTOR_NAMES, type ActorName } from "./pipeline.ts";
import { validateDefinition } from "./validate/index.ts";
import { windowDefinition } from "./window/index.ts";
import { lateSinkActor } from "./window/late-sink.ts";
import { sinkActors } from "./sink/index.ts";
import { dqSinkActor } from "./sink/dq.ts";
import { anomaliesSinkActor, detectDefinition } from "./detect/index.ts";
import { lakeDefinition } from "./lake/index.ts";

// Declarations only: nothing here starts, so no actor takes its services and the lake's store is never asked for.
const unused = (): never => {
  throw new Error("topology: a declaration was asked to run");
};
const sinkDeps = { maxRows: 1, maxWaitMs: 1 };

/** One actor's declaration, in either reading mode. */
export type Declared = ActorDefinition | KeyedActorDefinition<unknown, never>;

/** Every actor's declaration, keyed by name: a new entry in ACTOR_NAMES does not compile until it is here too. */
const DECLARATIONS: Record<ActorName, (partitions: number) => Declared> = {
  // With batching declared, validate's users may read EVENTS back (a batched restore does), so
  // SLUICE_EVENTS_BATCH=on works without regenerating the NATS users.
  validate: (partitions) => validateDefinition({ partitions, batchEvents: true }) as unknown as Declared,
  window: (partitions) => windowDefinition({ partitions }) as unknown as Declared,
  detect: (partitions) => detectDefinition({ partitions }) as unknown as Declared,
  ...sinkActors(sinkDeps),
  "clickhouse-sink-dq": () => dqSinkActor(sinkDeps),
  "clickhouse-sink-late": () => lateSinkActor(sinkDeps),
  "clickhouse-sink-anomalies": () => anomaliesSinkActor(sinkDeps),
  "lake-raw": () => lakeDefinition({ dataset: "raw", store: unused, limits: { maxRows: 1, maxBytes: 1 } }) as unknown as Declared,
  "lake-events": () => lakeDefinition({ dataset: "events", store: unused, limits: { maxRows: 1, maxBytes: 1 } }) as unknown as Declared,
};

/** The declaration of `name` (what it reads, emits and needs), e.g. for the NATS permissions derived from it (auth/nats-permissions.ts). */
export function actorDeclaration(name: ActorName, partitions: number): Declared {
  return DECLARATIONS[name](partitions);
}

function describe(def: Declared): TopologyActor {
  if ("reads" in def) return { name: def.name, reads: def.reads.stream, emits: def.emits, writes: [] };
  return { name: def.name, reads: def.consumes.stream, durable: def.consumes.durable_name, emits: def.emits, writes: def.writes ?? [] };
}

/**
 * The dataset graph of the actors `sluice up` runs, read from their declarations (what each
 * consumes, emits and writes). The API gets it from the process that starts both.
 */
export function pipelineTopology(partitions: number, actors: readonly ActorName[] = ACTOR_NAMES): Topology {
  return topologyOf(actors.map((name) => describe(DECLARATIONS[name](partitions))));
}
