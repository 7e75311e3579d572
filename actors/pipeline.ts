import type { Tracer } from "@opentelemetry/api";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { embeddedDataDir, type Config } from "../config/index.ts";
import { closeNats, connectNats, INSTANCE_ID } from "../nats/connect.ts";
import { openClickHouse, openWhenReachable, type OpenClickHouse } from "../clickhouse/index.ts";
import { ensureStreams, type StreamOverrides } from "../subjects/setup.ts";
import type { ActorDefinition, Logger, ServiceKey } from "./runtime/actor.ts";
import { supervise, type LoopActor } from "./runtime/supervisor.ts";
import { validateActor } from "./validate/index.ts";
import { windowActor } from "./window/index.ts";
import { lateSinkActor } from "./window/late-sink.ts";
import { sinkActors } from "./sink/index.ts";
import { dqSinkActor } from "./sink/dq.ts";
import { serveSql } from "../clickhouse/sql-rpc.ts";
import { anomaliesSinkActor, detectActor } from "./detect/index.ts";
import { SchemaRegistry } from "../subjects/registry/index.ts";
import { EventColumns } from "../clickhouse/columns.ts";
import { TypedColumnSync } from "./sink/typed-columns.ts";
import { lakeActors } from "./lake/index.ts";
import { neededBy, OpenServices, SERVICES, type TypedColumns } from "./services.ts";
import { createLakeViews } from "../lake/index.ts";
import { startShippedJobs } from "../jobs/index.ts";

/** Every actor `sluice up` runs, by name; `sluice actor <name…>` runs a subset. */
export const ACTOR_NAMES = ["validate", "window", "clickhouse-sink-events", "clickhouse-sink-dlq", "clickhouse-sink-agg", "clickhouse-sink-dq", "clickhouse-sink-late", "detect", "clickhouse-sink-anomalies", "lake-raw", "lake-events"] as const;
export type ActorName = (typeof ACTOR_NAMES)[number];

export function isActorName(value: string): value is ActorName {
  return (ACTOR_NAMES as readonly string[]).includes(value);
}

export interface PipelineOptions {
  readonly config: Config;
  readonly natsUrl: string;
  readonly actors: readonly ActorName[];
  readonly log: Logger;
  readonly tracerFor?: (actor: string) => Tracer;
  /** Aborts the wait for an unreachable NATS server at start (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Runs on the process's connection once the streams are checked, before any actor opens a bucket (`sluice actor` creates its buckets here). */
  readonly prepare?: (nc: NatsConnection) => Promise<void>;
}

export interface Pipeline {
  readonly nc: NatsConnection;
  readonly clickhouse: OpenClickHouse | undefined;
  /** Resolves when every actor has stopped. */
  readonly done: Promise<void>;
  /** What has not stopped yet (actors, then the steps of `stop()`), for a shutdown that overran its deadline. */
  running(): string[];
  stop(): Promise<void>;
}

/** The stream limits an operator sets through configuration. */
export function streamOverrides(config: Config): StreamOverrides {
  return { RAW: { max_age: config.rawMaxAgeHours * 3600 * 1_000_000_000 }, replicas: config.replicas };
}

/**
 * Starts the selected actors in this process: streams checked (missing ones created, existing ones
 * never changed: `SetupScope` in subjects/setup.ts), ClickHouse opened and migrated
 * when a sink runs here (and, for the embedded engine, SQL answered for other processes).
 */
export async function startPipeline(opts: PipelineOptions): Promise<Pipeline> {
  const { config, log } = opts;
  const nc = await connectNats(opts.natsUrl, config, `sluice:${opts.actors.join(",")}`, { signal: opts.signal, log });
  // Create-only: a process of actors never rescales or retunes a stream (sluice up does, as admin, before it gets here).
  const created = await ensureStreams(await jetstreamManager(nc), streamOverrides(config), { createOnly: true, warn: (m) => log.warn(m) });
  if (created.length) log.info(`streams created: ${created.join(", ")}`);
  await opts.prepare?.(nc);

  const sink = { maxRows: config.sinkBatchRows, maxWaitMs: config.sinkBatchMs };
  let clickhouse: OpenClickHouse | undefined;
  const lake = lakeActors({ location: config.lake, limits: { maxRows: config.lakeFileRows, maxBytes: config.lakeFileBytes }, embedded: () => (clickhouse?.kind === "embedded" ? clickhouse.client : undefined) });
  // Declarations only: what each actor needs from the process it takes at start (SERVICES).
  const all: Record<ActorName, () => ActorDefinition | LoopActor> = {
    validate: () => validateActor({ partitions: config.partitions, maxFutureSkewMs: config.maxFutureSkewMs, batchEvents: config.batchEvents, keyring: config.keyring, missingReference: config.missingReference }),
    window: () => windowActor({ partitions: config.partitions, groupShards: config.groupShards }),
    ...sinkActors(sink),
    "clickhouse-sink-dq": () => dqSinkActor(sink),
    "clickhouse-sink-late": () => lateSinkActor(sink),
    detect: () => detectActor({ partitions: config.partitions }),
    "clickhouse-sink-anomalies": () => anomaliesSinkActor(sink),
    ...lake.actors,
  };
  const actors = opts.actors.map((name) => all[name]());

  // Each service opened once, for every actor here that declared it.
  const needed = neededBy(actors);
  const needs = (key: ServiceKey<unknown>) => needed.has(key.name);
  let sqlService: { stop(): Promise<void> } | undefined;
  if (needs(SERVICES.clickhouse) || needs(SERVICES.typedColumns)) {
    // The actors insert as the sink account; migrations (CLICKHOUSE_MIGRATE=auto) run as the migrations account.
    clickhouse = await openWhenReachable({
      url: config.clickhouseUrl,
      user: config.clickhouseAccess.sink.user,
      password: config.clickhouseAccess.sink.password,
      dataDir: embeddedDataDir(config),
      engineMemoryMb: config.chdbMemoryMb,
      cluster: config.clickhouseCluster,
      insertQuorum: config.clickhouseInsertQuorum,
      logger: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
    }, { signal: opts.signal, log }, { migrate: config.clickhouseAccess.migrate, migrator: config.clickhouseAccess.migrations });
    if (clickhouse.kind === "embedded") await createLakeViews(clickhouse.client, config.lake);
    if (clickhouse.kind === "embedded") sqlService = serveSql(nc, clickhouse.client, { dataDir: embeddedDataDir(config), log });
  }
  // The registry's watch makes a version registered while sluice runs take effect within a second.
  const registry = needs(SERVICES.schemaRegistry) || needs(SERVICES.typedColumns) ? await SchemaRegistry.open(nc, { log }) : undefined;
  registry?.watch();
  let typedColumns: TypedColumns | undefined;
  if (registry && clickhouse && needs(SERVICES.typedColumns)) {
    const columns = new EventColumns(clickhouse.client, clickhouse.caps, log);
    typedColumns = { sync: new TypedColumnSync(columns, registry, log), columns };
    await typedColumns.sync.start();
  }
  const services = new OpenServices()
    .provide(SERVICES.clickhouse, clickhouse)
    .provide(SERVICES.schemaRegistry, registry)
    .provide(SERVICES.typedColumns, typedColumns);
  // The scheduled jobs run where ClickHouse is owned; a KV lease keeps each scheduled time to one process.
  // The jobs drop partitions (rollups; retention where there is no TTL), which the sink account may
  // not: they sign in as the migrations account when this process has one of its own.
  const { migrations: jobsAccount, sink: sinkAccount } = config.clickhouseAccess;
  const jobsClickHouse = clickhouse?.kind === "server" && jobsAccount.user !== undefined && jobsAccount.user !== sinkAccount.user
    ? await openClickHouse({ url: config.clickhouseUrl, user: jobsAccount.user, password: jobsAccount.password, dataDir: embeddedDataDir(config), cluster: config.clickhouseCluster, insertQuorum: config.clickhouseInsertQuorum, logger: { info: (m) => log.info(m), warn: (m) => log.warn(m) } })
    : clickhouse;
  const jobs = jobsClickHouse ? startShippedJobs({ nc, deps: { client: jobsClickHouse.client, caps: jobsClickHouse.caps, lake: lake.store, retentionDays: config.retentionDays, lakeRetentionDays: config.lakeRetentionDays }, log, report: config.reportCron ? { cron: config.reportCron, stateDir: config.stateDir } : undefined }) : undefined;

  const controller = new AbortController();
  const running = new Set(opts.actors.map((name) => `actor ${name}`));
  const deps = { nc, log, signal: controller.signal, tracerFor: opts.tracerFor, services };
  const done = Promise.all(actors.map((a, i) => supervise(a, deps).finally(() => running.delete(`actor ${opts.actors[i]}`)))).then(() => undefined);
  log.info(`actors running: ${opts.actors.join(", ")} (instance ${INSTANCE_ID}${clickhouse?.kind === "embedded" ? `, ClickHouse data in ${embeddedDataDir(config)}` : ""})`);
  const step = async (name: string, work: () => Promise<unknown>) => {
    running.add(name);
    try {
      await work();
    } finally {
      running.delete(name);
    }
  };

  return {
    nc,
    clickhouse,
    done,
    running: () => [...running],
    async stop() {
      if (controller.signal.aborted) return done;
      controller.abort();
      await done;
      await step("sql service", async () => sqlService?.stop());
      await step("jobs", async () => jobs?.stop());
      await step("schema registry", async () => registry?.close());
      await step("nats drain", () => closeNats(nc));
      await step("lake engine close", () => lake.close());
      await step("clickhouse close", async () => clickhouse?.close());
      if (jobsClickHouse !== clickhouse) await step("clickhouse (jobs) close", async () => jobsClickHouse?.close());
    },
  };
}
