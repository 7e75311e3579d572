import { STREAMS, subject, type StreamName } from "../subjects/catalog.ts";
import { CONSUMERS, type ConsumerDefinition } from "../subjects/consumers.ts";
import { REGISTRY_BUCKET } from "../subjects/registry/registry.ts";
import { KIND_NAMES, referenceBucket } from "../enrich/index.ts";
import { JOB_LEASES } from "../jobs/scheduler.ts";
import { keyedBuckets } from "../actors/runtime/keyed/ownership.ts";
import { actorDeclaration, type Declared } from "../actors/topology.ts";
import { ACTOR_NAMES, type ActorName } from "../actors/pipeline.ts";
import { SERVICES } from "../actors/services.ts";

/**
 * What one NATS user may publish and subscribe to, as nats-server's `permissions` block takes
 * it. Everything not allowed is refused; a deny wins over an allow.
 */
export interface NatsPermissions {
  readonly publish: { readonly allow: readonly string[]; readonly deny?: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[]; readonly deny?: readonly string[] };
}

/** The inbox prefix of `user`: replies to its requests and its consumers' deliveries arrive there, and no other user may subscribe to it. */
export function inboxPrefixOf(user: string): string {
  return `_INBOX_${user.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

const api = (...tokens: string[]) => `$JS.API.${tokens.join(".")}`;
const kvStream = (bucket: string) => `KV_${bucket}`;
const objStream = (bucket: string) => `OBJ_${bucket}`;

/** Permissions being built up, grant by grant; {@link Grants.permissions} renders them sorted. */
export class Grants {
  private readonly pub = new Set<string>();
  private readonly sub = new Set<string>();
  private readonly pubDeny = new Set<string>();
  /** Streams this user reads with consumers of its own naming (ordered consumers, KV watches): another actor's durable there is denied by name. */
  readonly orderedStreams = new Set<string>();
  /** Durables this user owns, never denied to it. */
  readonly ownDurables = new Set<string>();

  publish(...subjects: string[]): this {
    for (const s of subjects) this.pub.add(s);
    return this;
  }

  subscribe(...subjects: string[]): this {
    for (const s of subjects) this.sub.add(s);
    return this;
  }

  denyPublish(...subjects: string[]): this {
    for (const s of subjects) this.pubDeny.add(s);
    return this;
  }

  merge(other: Grants): this {
    other.pub.forEach((s) => this.pub.add(s));
    other.sub.forEach((s) => this.sub.add(s));
    other.pubDeny.forEach((s) => this.pubDeny.add(s));
    other.orderedStreams.forEach((s) => this.orderedStreams.add(s));
    other.ownDurables.forEach((s) => this.ownDurables.add(s));
    return this;
  }

  permissions(): NatsPermissions {
    const sorted = (s: Set<string>) => [...s].sort();
    return {
      publish: this.pubDeny.size ? { allow: sorted(this.pub), deny: sorted(this.pubDeny) } : { allow: sorted(this.pub) },
      subscribe: { allow: sorted(this.sub) },
    };
  }
}

/** Every client of sluice: its own inbox, `$JS.API.INFO`, and `STREAM.INFO` of sluice's streams (every process checks them at start: subjects/setup.ts). */
export function baseGrants(user: string): Grants {
  const g = new Grants().subscribe(`${inboxPrefixOf(user)}.>`).publish(api("INFO"));
  for (const def of Object.values(STREAMS)) g.publish(api("STREAM", "INFO", def.name));
  return g;
}

/** A shared durable pull consumer: create (bind) it, pull, ack, read a message by sequence for its max_deliver dead letters, and hear its advisories. */
export function durableGrants(g: Grants, def: ConsumerDefinition): Grants {
  const { stream, durable_name: d } = def;
  g.ownDurables.add(`${stream}/${d}`);
  g.publish(
    api("CONSUMER", "CREATE", stream, d),
    api("CONSUMER", "CREATE", stream, d, ">"),
    api("CONSUMER", "DURABLE", "CREATE", stream, d),
    api("CONSUMER", "INFO", stream, d),
    api("CONSUMER", "MSG", "NEXT", stream, d),
    `$JS.ACK.${stream}.${d}.>`,
  );
  if (def.max_deliver > 0) g.publish(api("STREAM", "MSG", "GET", stream)).subscribe(subject.maxDeliveriesAdvisory(stream, d));
  return g;
}

/**
 * Consumers whose names the client makes up (ordered consumers, KV watches and key listings,
 * object reads): create, pull, delete and inspect any consumer on `stream`, except the durables
 * of others, denied by name once every grant is in ({@link denyOthersDurables}).
 */
export function orderedGrants(g: Grants, stream: string): Grants {
  g.orderedStreams.add(stream);
  return g.publish(
    api("CONSUMER", "CREATE", stream, "*"),
    api("CONSUMER", "CREATE", stream, "*", ">"),
    api("CONSUMER", "MSG", "NEXT", stream, "*"),
    api("CONSUMER", "DELETE", stream, "*"),
    api("CONSUMER", "INFO", stream, "*"),
    // Flow control of push consumers (KV watches): the client answers the server's requests here.
    `$JS.FC.${stream}.>`,
  );
}

/** A KV bucket: open it (created if missing; an existing one is never changed), read, watch; `write` adds puts and deletes. */
export function kvGrants(g: Grants, bucket: string, access: "read" | "write"): Grants {
  const s = kvStream(bucket);
  g.publish(api("STREAM", "INFO", s), api("STREAM", "CREATE", s), api("STREAM", "MSG", "GET", s), api("DIRECT", "GET", s), api("DIRECT", "GET", s, ">"));
  orderedGrants(g, s);
  if (access === "write") g.publish(`$KV.${bucket}.>`);
  return g;
}

/** An object store bucket, read and written (checkpoints): chunks and metadata, and the purge that deletes an object. */
export function objectStoreGrants(g: Grants, bucket: string): Grants {
  const s = objStream(bucket);
  g.publish(api("STREAM", "INFO", s), api("STREAM", "CREATE", s), api("STREAM", "MSG", "GET", s), api("DIRECT", "GET", s), api("DIRECT", "GET", s, ">"), api("STREAM", "PURGE", s), `$O.${bucket}.>`);
  return orderedGrants(g, s);
}

/** Publishing into `stream` on behalf of `actor`: a dead letter only under the actor's own name. */
function emitGrants(g: Grants, stream: StreamName, actor: string): Grants {
  if (stream === "DLQ") return g.publish(subject.dlq(actor, "*"));
  return g.publish(...STREAMS[stream].subjects);
}

/** Who asks the ClickHouse owner's services (SQL, audit, jobs): its answers go to their inboxes, and to `_INBOX` for a person's `nats req`. */
const SERVICE_CALLERS = ["reader", "operator", "api", "admin"] as const;

/**
 * The process that opens ClickHouse: it answers SQL and audit requests for its engine and runs the
 * scheduled jobs. Its answers are allowed as publishes to the callers' inboxes, not through
 * `allow_responses`: nats-server then tracks the reply subject of every message delivered to the
 * user (each JetStream delivery has one) and, past 4096 of them, scans that table on each
 * delivery — the actors' throughput fell to a trickle under load.
 */
function clickhouseOwnerGrants(g: Grants): Grants {
  g.subscribe(subject.sqlService(), `${subject.sqlService()}.*`, `${subject.auditService()}.*`, subject.jobsService());
  g.publish("_INBOX.>", ...SERVICE_CALLERS.map((caller) => `${inboxPrefixOf(caller)}.>`));
  kvGrants(g, JOB_LEASES, "write");
  return g.publish(subject.jobAlerts("*"), subject.report("*"));
}

/** What each declared service needs from NATS (actors/services.ts). */
const SERVICE_GRANTS: Record<string, (g: Grants) => void> = {
  [SERVICES.schemaRegistry.name]: (g) => kvGrants(g, REGISTRY_BUCKET, "read"),
  [SERVICES.clickhouse.name]: (g) => clickhouseOwnerGrants(g),
  [SERVICES.typedColumns.name]: (g) => {
    kvGrants(g, REGISTRY_BUCKET, "read");
    clickhouseOwnerGrants(g);
  },
};

/**
 * What an actor reaches that its declaration does not say: validate opens the reference buckets
 * itself (`ctx.kv`) to enrich events. Read only: reference data is the operator's to write.
 */
const UNDECLARED: Partial<Record<ActorName, (g: Grants) => void>> = {
  validate: (g) => KIND_NAMES.forEach((kind) => kvGrants(g, referenceBucket(kind), "read")),
};

/** An actor's grants, from its declaration: how it reads, what it emits, the services it needs. */
export function actorGrants(def: Declared, user: string): Grants {
  const g = baseGrants(user);
  if ("reads" in def) {
    // Keyed: ordered consumers on its stream, its own members and leases buckets and checkpoint store.
    orderedGrants(g, def.reads.stream);
    const buckets = keyedBuckets(def.name);
    kvGrants(g, buckets.members, "write");
    kvGrants(g, buckets.leases, "write");
    objectStoreGrants(g, buckets.state);
    // Batching outputs: a restore and the fence read the output stream's batches (headers only,
    // ordered consumers) and a subject's last message (its sequence, for the fence: fence.ts).
    if (def.batchOutputs) orderedGrants(g, def.batchOutputs.stream).publish(api("STREAM", "MSG", "GET", def.batchOutputs.stream));
  } else {
    durableGrants(g, def.consumes);
  }
  for (const stream of def.emits) emitGrants(g, stream, def.name);
  // Every actor's runtime dead-letters what it gives up on, under its own name.
  emitGrants(g, "DLQ", def.name);
  for (const need of def.needs ?? []) SERVICE_GRANTS[need.name]?.(g);
  UNDECLARED[def.name as ActorName]?.(g);
  return g;
}

/** Every durable of sluice, `<stream>/<name>`: the catalog's and those the actors declare. */
export function allDurables(partitions: number): Set<string> {
  const out = new Set<string>(Object.values(CONSUMERS).map((c) => `${c.stream}/${c.durable_name}`));
  for (const name of ACTOR_NAMES) {
    const def = actorDeclaration(name, partitions);
    if (!("reads" in def)) out.add(`${def.consumes.stream}/${def.consumes.durable_name}`);
  }
  return out;
}

/** Denies, on the streams where `g` names consumers itself, every durable that is not its own: it can neither bind, pull, ack, change nor delete another actor's. */
export function denyOthersDurables(g: Grants, durables: ReadonlySet<string>): Grants {
  for (const key of durables) {
    if (g.ownDurables.has(key)) continue;
    const [stream, d] = key.split("/");
    if (!g.orderedStreams.has(stream)) continue;
    g.denyPublish(
      api("CONSUMER", "CREATE", stream, d),
      api("CONSUMER", "CREATE", stream, d, ">"),
      api("CONSUMER", "DURABLE", "CREATE", stream, d),
      api("CONSUMER", "MSG", "NEXT", stream, d),
      api("CONSUMER", "DELETE", stream, d),
      `$JS.ACK.${stream}.${d}.>`,
    );
  }
  return g;
}

/** The grants of one process running `actors` on one connection: the union of theirs. */
export function processGrants(actors: readonly ActorName[], user: string, partitions: number): Grants {
  const g = baseGrants(user);
  for (const name of actors) g.merge(actorGrants(actorDeclaration(name, partitions), user));
  return denyOthersDurables(g, allDurables(partitions));
}

/** `producer`: publishes events to RAW and nothing else (acks come back on the standard `_INBOX`, so any NATS client can wait for them). */
export function producerGrants(user: string): Grants {
  return new Grants().publish(STREAMS.RAW.subjects[0]).subscribe("_INBOX.>", `${inboxPrefixOf(user)}.>`);
}

/** `reader`: SQL read requests (the owner's gate makes them read-only: clickhouse/readonly.ts), nothing else. */
export function readerGrants(user: string): Grants {
  return new Grants().subscribe(`${inboxPrefixOf(user)}.>`).publish(subject.sqlService(), `${subject.sqlService()}.*`);
}

/**
 * `operator`: dead letters (read, replay to their original subject, purge), schema registry and
 * reference data writes, scheduled jobs run on demand, audit entries and SQL, stream and consumer
 * status. No stream or consumer may be created, changed or deleted.
 */
export function operatorGrants(user: string, partitions: number): Grants {
  const g = readerGrants(user).merge(baseGrants(user));
  orderedGrants(g, STREAMS.DLQ.name);
  g.publish(api("STREAM", "MSG", "GET", STREAMS.DLQ.name), api("STREAM", "PURGE", STREAMS.DLQ.name), api("STREAM", "MSG", "DELETE", STREAMS.DLQ.name));
  // A dead letter of a RAW message is replayed from RAW by its sequence (its own body may be protected: api/dlq.ts).
  g.publish(api("STREAM", "MSG", "GET", STREAMS.RAW.name));
  // A replay publishes the message to its original subject: RAW for validate's, EVENTS for a sink's.
  g.publish(...STREAMS.RAW.subjects, ...STREAMS.EVENTS.subjects);
  kvGrants(g, REGISTRY_BUCKET, "write");
  for (const kind of KIND_NAMES) kvGrants(g, referenceBucket(kind), "write");
  g.publish(subject.jobsService(), `${subject.auditService()}.*`, api("CONSUMER", "INFO", "*", "*"), api("STREAM", "INFO", "*"));
  return denyOthersDurables(g, allDurables(partitions));
}

