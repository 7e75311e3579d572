import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { Config } from "../config/index.ts";
import { NATS_CLIENT_TIMEOUT_MS, withDeadline } from "../nats/deadline.ts";
import { REGISTRY_BUCKET } from "../subjects/registry/registry.ts";
import { replicasLeftMessage, withReplicas, type SetupScope } from "../subjects/setup.ts";
import { KIND_NAMES, REFERENCE_BUCKET_OPTIONS, referenceBucket } from "../enrich/index.ts";
import { JOB_LEASES, JOB_LEASE_TTL_MS } from "../jobs/scheduler.ts";
import { keyedBuckets } from "./runtime/keyed/ownership.ts";
import { actorDeclaration } from "./topology.ts";
import { ACTOR_NAMES, type ActorName } from "./pipeline.ts";
import { neededBy, SERVICES } from "./services.ts";

/**
 * Ownership.open's member TTL when the actor sets none (actors/runtime/keyed/ownership.ts);
 * tests/cluster/replication.test.ts fails if the two part.
 */
export const KEYED_MEMBER_TTL_MS = 4_000;

/** A KV bucket or object store sluice opens, with the options its opener creates it with. */
export type BucketSpec =
  | {
      readonly kind: "kv";
      readonly bucket: string;
      readonly opts: { readonly history: number; readonly ttl?: number };
      /**
       * Reads must see the latest write (a lease is a fencing token): on more than one replica the
       * bucket answers gets from its leader only (allow_direct off), because a direct get may be
       * answered by a follower that lags — seen on the 3-node test cluster: a lease read back at
       * revision 5 right after its holder wrote revision 7.
       */
      readonly linearizable?: true;
    }
  | { readonly kind: "obj"; readonly bucket: string };

/** The JetStream stream behind a bucket (nats.js's naming). */
export const bucketStream = (spec: BucketSpec): string => `${spec.kind === "kv" ? "KV" : "OBJ"}_${spec.bucket}`;

/**
 * Every bucket sluice opens, or only those a process running `actors` opens: the schema registry
 * (actors that need it or the typed columns), the reference data (validate enriches from it), the
 * scheduled jobs' leases (the process that opens ClickHouse runs the jobs: actors/pipeline.ts),
 * and each keyed actor's members, leases and checkpoint store (from the actor declarations).
 * tests/cluster/actor-alone.test.ts checks each process's list against what its NATS user may
 * create (auth/nats-permissions.ts), both ways.
 */
export function sluiceBuckets(partitions: number, actors: readonly ActorName[] = ACTOR_NAMES): BucketSpec[] {
  const defs = actors.map((name) => actorDeclaration(name, partitions));
  const needed = neededBy(defs);
  const out: BucketSpec[] = [];
  if (needed.has(SERVICES.schemaRegistry.name) || needed.has(SERVICES.typedColumns.name)) out.push({ kind: "kv", bucket: REGISTRY_BUCKET, opts: { history: 5 } });
  if (actors.includes("validate")) out.push(...KIND_NAMES.map((kind): BucketSpec => ({ kind: "kv", bucket: referenceBucket(kind), opts: REFERENCE_BUCKET_OPTIONS })));
  if (needed.has(SERVICES.clickhouse.name) || needed.has(SERVICES.typedColumns.name)) out.push({ kind: "kv", bucket: JOB_LEASES, opts: { ttl: JOB_LEASE_TTL_MS, history: 1 } });
  for (const def of defs) {
    if (!("reads" in def)) continue;
    const names = keyedBuckets(def.name);
    out.push(
      { kind: "kv", bucket: names.members, opts: { ttl: KEYED_MEMBER_TTL_MS, history: 1 } },
      { kind: "kv", bucket: names.leases, opts: { history: 1 }, linearizable: true },
      { kind: "obj", bucket: names.state },
    );
  }
  return out;
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  return withDeadline(() => jsm.streams.info(name), { what: `stream ${name} info` }).catch((err: Error) => {
    if (/stream not found/i.test(err.message)) return undefined;
    throw err;
  });
}

/**
 * How {@link ensureBucketReplicas} treats buckets: every one, as admin (`sluice up`), or a process's
 * own, create-only (the `sluice actor` path: an actor's NATS user may create its buckets but not
 * change them; a count other than SLUICE_REPLICAS is reported to `warn`, as for streams).
 */
export interface BucketReplicasScope extends SetupScope {
  /** Only the buckets these actors' process opens (default: every bucket). */
  readonly actors?: readonly ActorName[];
}

/**
 * Gives every bucket sluice opens `config.replicas` replicas (SLUICE_REPLICAS), before any actor
 * opens one: as admin (`sluice up`) an existing bucket with another count is updated in place (a
 * stream update may change num_replicas, on 2.9 too), and on a cluster (replicas > 1) a missing
 * one is created here with its opener's options, because nats.js opens an existing bucket as it is
 * and would otherwise create it with one replica. With replicas 1 a missing bucket is left to its
 * opener, as before. A process of actors started alone (`sluice actor`, through startPipeline)
 * creates its own missing buckets the same way (`createOnly`). Returns what it changed, e.g.
 * `KV_sluice_schemas 1→3`.
 */
export async function ensureBucketReplicas(nc: NatsConnection, config: Pick<Config, "replicas" | "partitions">, scope: BucketReplicasScope = {}): Promise<string[]> {
  const js = jetstream(nc, { timeout: NATS_CLIENT_TIMEOUT_MS });
  const jsm = await jetstreamManager(nc, { timeout: NATS_CLIENT_TIMEOUT_MS });
  const changed: string[] = [];
  for (const spec of sluiceBuckets(config.partitions, scope.actors)) {
    const name = bucketStream(spec);
    // Created on more than one replica, a leases bucket gets from its leader from the start.
    const direct = !(spec.kind === "kv" && spec.linearizable && config.replicas > 1);
    let info = await streamInfo(jsm, name);
    if (info) {
      const had = info.config.num_replicas || 1;
      if (had !== config.replicas && scope.createOnly) {
        scope.warn?.(replicasLeftMessage(`bucket ${spec.bucket}`, had, config.replicas));
        continue;
      }
      if (had !== config.replicas) {
        const scaled = { ...info.config, num_replicas: config.replicas };
        info = await withReplicas(`bucket ${spec.bucket}`, config.replicas, () => withDeadline(() => jsm.streams.update(name, scaled), { what: `stream ${name} update num_replicas ${had}→${config.replicas}` }));
        changed.push(`${name} ${had}→${config.replicas}`);
      }
    } else {
      if (config.replicas === 1) continue;
      info = await withReplicas(`bucket ${spec.bucket}`, config.replicas, async () => {
        if (spec.kind === "kv") await withDeadline(() => new Kvm(js).create(spec.bucket, { ...spec.opts, replicas: config.replicas, ...(direct ? {} : { allow_direct: false }) }), { what: `kv ${spec.bucket} create` });
        else await withDeadline(() => new Objm(js).create(spec.bucket, { storage: "file", replicas: config.replicas }), { what: `object store ${spec.bucket} create` });
        return withDeadline(() => jsm.streams.info(name), { what: `stream ${name} info` });
      });
      changed.push(`${name} created with ${config.replicas}`);
    }
    // nats.js reads an existing bucket's allow_direct when it opens it, and gets from the leader when it is off.
    if (!direct && info.config.allow_direct && scope.createOnly) {
      scope.warn?.(`bucket ${spec.bucket} answers direct gets on ${info.config.num_replicas} replicas (a lagging follower may answer a lease read); left as it is: run sluice up with SLUICE_REPLICAS=${config.replicas} once to read it from its leader only`);
    } else if (!direct && info.config.allow_direct) {
      const current = info.config;
      await withDeadline(() => jsm.streams.update(name, { ...current, allow_direct: false }), { what: `stream ${name} update allow_direct off` });
      changed.push(`${name} gets from its leader only`);
    }
  }
  return changed;
}
