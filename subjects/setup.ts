import type { ConsumerInfo, JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";
import { STREAMS, type StreamDefinition } from "./catalog.ts";
import { consumerConfig, type ConsumerDefinition, type ConsumerWireConfig } from "./consumers.ts";

/** A stream or consumer exists on the server with settings that differ from the catalog. */
export class ConfigConflictError extends Error {
  readonly resource: string;
  readonly field: string;
  readonly expected: unknown;
  readonly actual: unknown;
  /** `remedy`: what to do instead of the generic advice (a setting the operator tunes has a variable to set). */
  constructor(resource: string, field: string, expected: unknown, actual: unknown, remedy?: string) {
    super(
      `${resource} exists with ${field}=${JSON.stringify(actual)} but sluice expects ${JSON.stringify(expected)}; ` +
        `${remedy ?? "change it on the server (e.g. `nats stream edit`) or delete it to let sluice recreate it"} — sluice never changes it silently`,
    );
    this.name = "ConfigConflictError";
    this.resource = resource;
    this.field = field;
    this.expected = expected;
    this.actual = actual;
  }
}

/** SLUICE_REPLICAS asks for more replicas than the NATS server can give (it runs alone, or the cluster is smaller). */
export class ReplicasUnavailableError extends Error {
  readonly resource: string;
  readonly replicas: number;
  constructor(resource: string, replicas: number, got: string) {
    super(
      `${resource}: SLUICE_REPLICAS=${replicas} needs a JetStream cluster of at least ${replicas} nodes, and the NATS server gave ${got}; ` +
        "set SLUICE_REPLICAS=1 for a single server, or point NATS_URL at every node of a cluster (sluice deploy nats-cluster writes one)",
    );
    this.name = "ReplicasUnavailableError";
    this.resource = resource;
    this.replicas = replicas;
  }
}

/** Creates or updates a stream at `replicas`, refusing with {@link ReplicasUnavailableError} what the server cannot replicate. */
export async function withReplicas<T extends { config: { num_replicas: number } }>(resource: string, replicas: number, change: () => Promise<T>): Promise<T> {
  let info: T;
  try {
    info = await change();
  } catch (err) {
    // 10074: "replicas > 1 not supported in non-clustered mode"; 10005: insufficient resources (fewer nodes than replicas).
    const code = (err as { api_error?: { err_code?: number } })?.api_error?.err_code;
    if (replicas > 1 && (code === 10074 || /replicas > 1 not supported|insufficient resources/i.test((err as Error).message))) throw new ReplicasUnavailableError(resource, replicas, `"${(err as Error).message}"`);
    throw err;
  }
  // A single 2.9 server accepts an update to 3 replicas and keeps 1.
  if ((info.config.num_replicas || 1) !== replicas) throw new ReplicasUnavailableError(resource, replicas, `${info.config.num_replicas || 1} replica(s)`);
  return info;
}

function sameValue(expected: unknown, actual: unknown): boolean {
  return JSON.stringify(expected) === JSON.stringify(actual);
}

function firstConflict(resource: string, wanted: Record<string, unknown>, actual: Record<string, unknown>): ConfigConflictError | undefined {
  for (const [field, expected] of Object.entries(wanted)) {
    if (field === "stream") continue;
    if (!sameValue(expected, actual[field])) return new ConfigConflictError(resource, field, expected, actual[field]);
  }
  return undefined;
}

/**
 * Stream limits that are the operator's to tune through configuration (SLUICE_RAW_MAX_AGE_HOURS).
 * As admin (`sluice up`) a difference is a {@link ConfigConflictError}; a process of actors
 * (`createOnly`) warns and leaves the stream as it is.
 */
export interface StreamOverrides {
  RAW?: Partial<Pick<StreamConfig, "max_age" | "max_bytes" | "max_msgs">>;
  /** num_replicas of every stream (SLUICE_REPLICAS); absent: whatever the server has is kept. */
  replicas?: number;
}

/** Which configuration variable sets each operator-tuned stream field, for messages that say what to set. */
const OVERRIDE_VARIABLES: Readonly<Record<string, string>> = { max_age: "SLUICE_RAW_MAX_AGE_HOURS" };

const NANOS_PER_HOUR = 3_600_000_000_000;

/**
 * What to do when `sluice up` finds an operator-tuned limit that differs from its configuration.
 * Not "delete the stream" (RAW holds the only copy of what was published), and not an update in
 * place either: a process started without the variable would shorten a user's retention.
 */
function tunedRemedy(stream: string, field: string, actual: unknown): string {
  const variable = OVERRIDE_VARIABLES[field];
  const serverValue = field === "max_age" && typeof actual === "number" ? actual / NANOS_PER_HOUR : undefined;
  const keep = variable && serverValue !== undefined ? `to keep the server's value, set ${variable}=${serverValue}; ` : "";
  return `${keep}to use the configured one, change it on the server (\`nats stream edit ${stream}\`)`;
}

/**
 * How a set-up treats what exists. `sluice up` runs as admin and scales streams and buckets to
 * SLUICE_REPLICAS in place. A process of actors (`sluice actor`, `sluice up --split`'s children,
 * startPipeline) only creates what is missing: its NATS user may not change a stream or bucket,
 * and without authorization (or as admin) a process started without `sluice up`'s environment
 * would otherwise rescale a user's streams — e.g. 3 replicas down to the default 1.
 */
export interface SetupScope {
  /** Create missing streams or buckets only; an existing one that differs in a setting the configuration tunes is reported to `warn`, never changed. */
  readonly createOnly?: boolean;
  readonly warn?: (message: string) => void;
}

/**
 * The warning of a create-only set-up for a stream or bucket whose replica count is not this
 * process's SLUICE_REPLICAS (one text for streams and buckets, actors/replication.ts).
 */
export function replicasLeftMessage(resource: string, had: number, wanted: number): string {
  return `${resource} has ${had} replica(s), not SLUICE_REPLICAS=${wanted}; left as it is (a process of actors creates what is missing and changes nothing that exists): ` +
    `to scale it, run sluice up with SLUICE_REPLICAS=${wanted} once; if ${had} is right, set SLUICE_REPLICAS=${had} for this process too`;
}

/** A stream this process must create is missing, and its NATS user may not create streams. */
export class StreamMissingError extends Error {
  readonly stream: string;
  constructor(stream: string, refusal: string) {
    super(
      `stream ${stream} does not exist and this process's NATS user may not create it (${refusal}); ` +
        "run sluice up (or its set-up as admin) once against this server first: it creates every stream at SLUICE_REPLICAS",
    );
    this.name = "StreamMissingError";
    this.stream = stream;
  }
}

const isPermissionViolation = (err: unknown): boolean => err instanceof errors.PermissionViolationError || /permissions violation/i.test((err as Error)?.message ?? "");

/**
 * Creates each stream of the catalog that is missing, at `overrides.replicas`, and checks the ones
 * that exist; returns what it changed (`RAW created with 3`, `RAW 1→3`). Idempotent: running it
 * again on a matching server changes nothing. A catalog field that differs is a
 * {@link ConfigConflictError} on every path (no sluice process made that stream). As admin, the one
 * setting it changes on an existing stream is its replica count, when `overrides.replicas` differs
 * from the server's: scaling a stream to the cluster is what SLUICE_REPLICAS asks for, and JetStream
 * moves the data itself (a stream update may change num_replicas, on 2.9 too). With
 * `scope.createOnly` an existing stream is never changed: another replica count or RAW limit is a
 * warning ({@link SetupScope}).
 */
export async function ensureStreams(jsm: JetStreamManager, overrides: StreamOverrides = {}, scope: SetupScope = {}): Promise<string[]> {
  const { replicas } = overrides;
  const changed: string[] = [];
  for (const def of Object.values(STREAMS) as StreamDefinition[]) {
    const tuned: Record<string, unknown> = def.name === "RAW" ? { ...overrides.RAW } : {};
    const wanted: Record<string, unknown> = { ...def, ...tuned };
    const existing = await jsm.streams.info(def.name).catch((err: Error) => {
      if (/stream not found/i.test(err.message)) return undefined;
      throw err;
    });
    if (!existing) {
      const config = { ...wanted, ...(replicas ? { num_replicas: replicas } : {}) } as Partial<StreamConfig> & { name: string };
      const create = () => jsm.streams.add(config).catch((err: unknown) => {
        if (scope.createOnly && isPermissionViolation(err)) throw new StreamMissingError(def.name, (err as Error).message);
        throw err;
      });
      await (replicas ? withReplicas(`stream ${def.name}`, replicas, create) : create());
      changed.push(`${def.name} created${replicas ? ` with ${replicas}` : ""}`);
      continue;
    }
    const actual = existing.config as unknown as Record<string, unknown>;
    if (scope.createOnly) {
      for (const [field, value] of Object.entries(tuned)) {
        if (sameValue(value, actual[field])) continue;
        delete wanted[field];
        scope.warn?.(`stream ${def.name} has ${field}=${JSON.stringify(actual[field])}, not ${JSON.stringify(value)}${OVERRIDE_VARIABLES[field] ? ` (${OVERRIDE_VARIABLES[field]})` : ""}; left as it is (a process of actors changes nothing that exists): ` +
          `if the server's value is right, give this process the same ${OVERRIDE_VARIABLES[field] ?? "setting"} as sluice up; otherwise change it on the server (\`nats stream edit ${def.name}\`)`);
      }
    } else {
      for (const [field, value] of Object.entries(tuned)) {
        if (!sameValue(value, actual[field])) throw new ConfigConflictError(`stream ${def.name}`, field, value, actual[field], tunedRemedy(def.name, field, actual[field]));
      }
    }
    const conflict = firstConflict(`stream ${def.name}`, wanted, actual);
    if (conflict) throw conflict;
    const had = existing.config.num_replicas || 1;
    if (!replicas || had === replicas) continue;
    if (scope.createOnly) {
      scope.warn?.(replicasLeftMessage(`stream ${def.name}`, had, replicas));
      continue;
    }
    await withReplicas(`stream ${def.name}`, replicas, () => jsm.streams.update(def.name, { ...existing.config, num_replicas: replicas }));
    changed.push(`${def.name} ${had}→${replicas}`);
  }
  return changed;
}

/** The wanted config with its filter stated also when absent, so that a filter on the server counts as a difference. */
const withFilter = (wanted: ConsumerWireConfig): Record<string, unknown> => ({ ...wanted, filter_subject: wanted.filter_subject });

/**
 * Creates the durable consumer if missing and returns its info; an existing one must match the
 * definition. Never sends `consumer info` on the way (see {@link consumerConfig}): the create
 * request answers with the consumer as it is. nats-server 2.9 applies a create to an existing
 * durable as an update of what it allows to change (ack_wait, max_deliver, max_ack_pending,
 * the filter), so the catalog's values win there; a setting it cannot change is reported.
 * 2.10 and later refuse a differing create: then the one difference sluice makes itself —
 * dropping a filter that selects the whole stream, from before consumers were unfiltered — is
 * applied as an update, and any other is reported.
 */
export async function ensureConsumer(jsm: JetStreamManager, def: ConsumerDefinition): Promise<ConsumerInfo> {
  const resource = `consumer ${def.stream}/${def.durable_name}`;
  const wanted = consumerConfig(def);
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.add(def.stream, wanted);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const immutable = /^(.+) can not be updated/i.exec(message);
    if (immutable) {
      const field = immutable[1].replace(/ /g, "_");
      throw new ConfigConflictError(resource, field, (wanted as Record<string, unknown>)[field], `another value (the server: "${message}")`);
    }
    if (!/consumer already exists/i.test(message)) throw err;
    // Only servers from 2.10 get here, and they have no consumer-info trap.
    const existing = await jsm.consumers.info(def.stream, def.durable_name);
    const legacyFilter = wanted.filter_subject === undefined && existing.config.filter_subject === def.filter_subject;
    const conflict = firstConflict(resource, legacyFilter ? { ...wanted, filter_subject: def.filter_subject } : withFilter(wanted), existing.config as unknown as Record<string, unknown>);
    if (conflict) throw conflict;
    // An absent filter, not "": nats.js puts a set filter in the request subject, and "" makes it invalid.
    info = legacyFilter ? await jsm.consumers.update(def.stream, def.durable_name, { filter_subject: undefined }) : existing;
  }
  const conflict = firstConflict(resource, withFilter(wanted), info.config as unknown as Record<string, unknown>);
  if (conflict) throw conflict;
  return info;
}
