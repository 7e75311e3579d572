import { createQualityGate, type GateSnapshot, type QualityGate } from "../../quality/gate.ts";
import { loadSuites } from "../../quality/suites.ts";
import { defineKeyedActor, fingerprintOf, type KeyedActorDefinition } from "../runtime/keyed/actor.ts";
import { durableAckFloor } from "../runtime/keyed/upgrade.ts";
import { wireSize } from "../runtime/size.ts";
import type { Outbound } from "../runtime/actor.ts";
import { keyedActor, type KeyedRunOptions } from "../runtime/keyed/run.ts";
import type { LoopActor } from "../runtime/supervisor.ts";
import { ownedBy, validateTasks, type ValidateTask } from "./tasks.ts";
import { createValidator, type ValidatorOptions } from "./validate.ts";
import { SERVICES } from "../services.ts";
import { createIngestProtection, readKeyring, type IngestProtection, type KeyringLocation } from "../../pii/index.ts";
import { isSource, SOURCES, type Source } from "../../subjects/sources.ts";
import { STREAMS, subject } from "../../subjects/catalog.ts";
import { RecentIds } from "./recent-ids.ts";
import { PoisonError } from "../../subjects/errors.ts";
import { createEnricher, followReferences, KIND_NAMES, ReferenceCache, referenceBucket, REFERENCE_BUCKET_OPTIONS, type MissingReference } from "../../enrich/index.ts";

export interface ValidateActorOptions extends ValidatorOptions, KeyedRunOptions {
  readonly batchMessages?: number;
  /** The keyring for the schemas' x-sluice-pii rules; without one, a schema that tokenizes or encrypts stops the start. */
  readonly keyring?: KeyringLocation;
  /** Per source, what an event without its reference entry does (enrich/); default `flag`. */
  readonly missingReference?: Readonly<Partial<Record<string, MissingReference>>>;
  /** Carry many events in one EVENTS message (subjects/event-batch.ts). The pipeline passes `SLUICE_EVENTS_BATCH` (config: on unless `off`); unset here, one event a message. */
  readonly batchEvents?: boolean;
}

interface ValidateState {
  readonly task: ValidateTask;
  readonly gate: QualityGate;
  /** With batching on: the event ids published within EVENTS' duplicate window (recent-ids.ts). */
  readonly recent: RecentIds | undefined;
}

/** A checkpoint with batching on: the gate's snapshot and the recent event ids; without, the gate's snapshot alone (as before batching). */
interface BatchingSnapshot {
  readonly gate: GateSnapshot;
  readonly recentEventIds: Array<[string, number]>;
}

/** EVENTS' duplicate window, in RAW stream time, and how many ids per task validate keeps for it. */
const DUPLICATE_WINDOW_MS = STREAMS.EVENTS.duplicate_window / 1_000_000;
const MAX_TRACKED_IDS = 200_000;

/**
 * Bumped when what a checkpoint means changes. Deliberately not a hash of the config (suites,
 * partitions, skew): a changed fingerprint rebuilds a task from the start of RAW, and events
 * older than EVENTS' duplicate window would then be stored twice. A suite edit instead restarts
 * only the edited checks (QualityGate.restore).
 */
const VALIDATE_STATE_VERSION = 1;

/**
 * `validate` as a keyed actor (actors/runtime/keyed/): RAW → EVENTS (valid, normalised), DLQ (with
 * the schema or data-quality error) and DQ (counts per expectation and minute), through the tasks
 * of {@link validateTasks}. Each task reads its subjects in RAW order from its checkpoint, so
 * after a crash EVENTS gets its events in the order of an uninterrupted run (a durable consumer
 * redelivered the unacked ones ack_wait later, behind newer events). State per task: the quality
 * gate's stateful checks and its open minute's counts.
 *
 * Determinism has one exception: the validator uses the schema registry's versions current when a
 * message is handled, so a replay after a schema change may decide otherwise than the first
 * pass (the first event or dead letter stands: JetStream drops a repeated id, whatever its body).
 *
 * DQ counts go out when a message's stream time passes a minute boundary, so they are exactly-once
 * across crashes; with no ticks, a minute is reported only once a later message arrives.
 *
 * Without `opts.schemas` it needs the process's schema registry (SERVICES.schemaRegistry), taken
 * when it starts.
 */
export function validateDefinition(opts: ValidateActorOptions): KeyedActorDefinition<ValidateState, ValidateTask> {
  let verdictOf = createValidator(opts);
  let pii: IngestProtection | undefined;
  let maxPayload = Infinity;
  let references: { stop(): Promise<void> } | undefined;
  const suites = loadSuites();
  const tasks = validateTasks();
  const fingerprint = fingerprintOf([VALIDATE_STATE_VERSION, tasks.map((t) => [t.id, t.filter])]);
  const batching = opts.batchEvents === true;
  const newRecent = () => (batching ? new RecentIds(DUPLICATE_WINDOW_MS, MAX_TRACKED_IDS) : undefined);
  return defineKeyedActor<ValidateState, ValidateTask>({
    name: "validate",
    reads: { mode: "keyed", stream: "RAW", tasks },
    emits: ["EVENTS", "DLQ", "DQ"],
    batch: { max_messages: opts.batchMessages ?? 1_000, max_wait_ms: 5 },
    fingerprint,
    needs: opts.schemas ? [] : [SERVICES.schemaRegistry],
    async start(ctx) {
      const schemas = opts.schemas ?? (await ctx.use(SERVICES.schemaRegistry));
      maxPayload = ctx.nc.info?.max_payload ?? Infinity;
      pii = createIngestProtection(schemas, opts.keyring && readKeyring(opts.keyring));
      pii.checkKeys(SOURCES);
      // The ingest chain in one hop: validate, enrich from the watched reference buckets, protect PII.
      const cache = new ReferenceCache();
      const buckets = new Map(await Promise.all(KIND_NAMES.map(async (kind) => [kind, await ctx.kv(referenceBucket(kind), REFERENCE_BUCKET_OPTIONS)] as const)));
      references = await followReferences(buckets, cache, { signal: ctx.signal, warn: (m) => ctx.log.warn(m) });
      const enrich = createEnricher(cache, opts.missingReference);
      const protect = pii.protect;
      verdictOf = createValidator({ ...opts, schemas, refine: (source, payload, eventId) => {
        const enriched = enrich(source, payload);
        return enriched instanceof PoisonError ? enriched : protect(source, enriched, eventId);
      } });
    },
    async stop() {
      await references?.stop();
    },
    // Ordinary events go out many to a message; a replayed one (it carries the replay count, which
    // the sinks look up) keeps a message and an id of its own. Off, still declared: a restore
    // after batching was switched off reads what the batching run stored after its checkpoint.
    batchOutputs: {
      enabled: batching,
      stream: "EVENTS",
      batchable: (out) => out.subject.startsWith(EVENTS_PREFIX) && out.headers === undefined,
      filter: (task) => (task.source ? subject.eventsAll(task.source) : undefined),
    },
    // Before it was keyed, validate read the durable RAW/validate: what that acknowledged is not published again.
    outputsDoneThrough: durableAckFloor("RAW", "validate"),
    createState: (task) => ({ task, gate: createQualityGate(suites), recent: newRecent() }),
    snapshot: (state): GateSnapshot | BatchingSnapshot => (state.recent ? { gate: state.gate.snapshot(), recentEventIds: state.recent.snapshot() } : state.gate.snapshot()),
    restore(task, snapshot) {
      const gate = createQualityGate(suites);
      const withIds = snapshot !== null && typeof snapshot === "object" && "recentEventIds" in snapshot ? (snapshot as BatchingSnapshot) : undefined;
      gate.restore(withIds ? withIds.gate : (snapshot as GateSnapshot));
      const recent = batching ? RecentIds.restore(DUPLICATE_WINDOW_MS, MAX_TRACKED_IDS, withIds?.recentEventIds) : undefined;
      return { task, gate, recent };
    },
    handle(state, batch, ctx) {
      const { task, gate, recent } = state;
      for (const input of batch) {
        // DQ report ids are scoped by the task like every keyed output: one report per task, source, expectation and minute.
        for (const out of gate.advance(input.timestampMs, ctx.scope)) ctx.emitUnbound(out);
        if (ownedBy(input.subject) !== task.id) continue;
        const verdict = gate.admit(input, verdictOf(input));
        // Exempt from the scope rule: the id is the event's (subjects/identity.ts), not this
        // task's, so that EVENTS stores an event once whichever task, configuration or consumption
        // mode validated it (it is the id the durable-consumer validate used).
        const size = verdict.ok ? sizeNear(verdict.out, maxPayload) : 0;
        if (verdict.ok && size <= maxPayload) {
          // A repeat EVENTS would have dropped by its id: dropped here as silently.
          if (!recent || !verdict.out.msgId || !recent.repeat(verdict.out.msgId, input.timestampMs)) ctx.emit(input, verdict.out);
        }
        else {
          // Too large an event is dead-lettered here, not by the runtime, which would send RAW's clear bytes.
          const error = verdict.ok ? new PoisonError("too_large", `${input.subject} (stream ${input.stream} seq ${input.seq}): its event on ${verdict.out.subject} would be about ${size} bytes, over the server's max_payload of ${maxPayload}`) : verdict.error;
          // `other` also gets a known source's messages on a malformed subject (`raw.txn`): they are protected by that source's rules.
          const source = task.source ?? sourceToken(input.subject);
          ctx.reject(input, protectedDeadLetter(error, source && pii?.deadLetterBody(source, input.data, `${input.stream}:${input.seq}`)));
        }
      }
    },
  });
}

const EVENTS_PREFIX = "events.";

/** An output's wire size when it may be near `max` (counted exactly), else a bound well under it: most events are far smaller. */
function sizeNear(out: Outbound, max: number): number {
  const bound = (typeof out.data === "string" ? out.data.length * 3 : out.data.length) + SIZE_SLACK;
  return bound < max ? bound : wireSize(out);
}
/** More than wireSize adds for headers and ids to an event. */
const SIZE_SLACK = 8_192;

/** The known source a RAW subject names in its second token, whatever else is wrong with it. */
function sourceToken(rawSubject: string): Source | undefined {
  const token = rawSubject.split(".")[1];
  return isSource(token) ? token : undefined;
}

/** The error with the body its dead letter carries when the source's policy protects fields. */
function protectedDeadLetter(error: PoisonError, body: Uint8Array | undefined): PoisonError {
  return body ? new PoisonError(error.code, error.message, { field: error.field, cause: error.cause, body }) : error;
}

export function validateActor(opts: ValidateActorOptions): LoopActor {
  return keyedActor(validateDefinition(opts), opts);
}

export { createValidator, type Verdict, type ValidatorOptions } from "./validate.ts";
export { parseEventTime } from "./event-time.ts";
export { BUILT_IN_SCHEMAS, statedVersion, type SchemaSource } from "./versions.ts";
export { validateTasks, ownedBy, OTHER_TASK, type ValidateTask } from "./tasks.ts";
