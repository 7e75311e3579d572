import { mkdtempSync, rmSync } from "node:fs";
import { streamEvents } from "./run-snapshot.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Tracer } from "@opentelemetry/api";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig, type Config } from "../../config/index.ts";
import { ACTOR_NAMES, startPipeline, type ActorName, type Pipeline } from "../../actors/pipeline.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import type { TestMessage } from "./events.ts";
import { withTestKeyring } from "./keyring.ts";
import { NatsServer } from "./nats-server.ts";
import { setUpLikeSluiceUp } from "./nats-auth.ts";
import { connect } from "@nats-io/transport-node";

export interface TestPipeline extends Pipeline {
  readonly config: Config;
  readonly stateDir: string;
  /** A single number from a query such as `SELECT count() FROM …`. */
  scalar(sql: string): Promise<number>;
  cleanup(): Promise<void>;
}

export async function startTestPipeline(natsUrl: string, opts: { clickhouseUrl?: string; actors?: readonly ActorName[]; env?: Record<string, string>; tracerFor?: (actor: string) => Tracer } = {}): Promise<TestPipeline> {
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-state-"));
  // Under SLUICE_TEST_NATS_AUTH=on the actors sign in as their own generated user.
  const server = NatsServer.withTestAuth(natsUrl);
  const credentials = server?.credentialsDir ? { SLUICE_NATS_CREDENTIALS: server.credentialsDir } : {};
  // SLUICE_EVENTS_BATCH from the caller's environment: a benchmark or a test run compares both formats.
  const batching = process.env.SLUICE_EVENTS_BATCH ? { SLUICE_EVENTS_BATCH: process.env.SLUICE_EVENTS_BATCH } : {};
  const config = loadConfig(withTestKeyring({ SLUICE_STATE_DIR: stateDir, CLICKHOUSE_URL: opts.clickhouseUrl, SLUICE_LOG_LEVEL: "warn", ...batching, ...credentials, ...opts.env }));
  const actors = opts.actors ?? ACTOR_NAMES;
  if (server) {
    await server.ensureProcessUser(actors, config.partitions);
    // As `sluice up` does as admin: the actors' users may not create streams or register schemas.
    const probe = await connect({ servers: natsUrl.split(",") });
    try {
      await setUpLikeSluiceUp(probe, config);
      server.setUp = true;
    } finally {
      await probe.close();
    }
  }
  const pipeline = await startPipeline({
    config,
    natsUrl,
    actors,
    log: createLogger(config.logLevel),
    tracerFor: opts.tracerFor,
  });
  return {
    ...pipeline,
    config,
    stateDir,
    async scalar(sql) {
      const rs = await pipeline.clickhouse!.client.query({ query: sql, format: "JSONEachRow" });
      const rows = (await rs.json()) as Array<Record<string, unknown>>;
      return Number(Object.values(rows[0] ?? { v: 0 })[0]);
    },
    async cleanup() {
      await pipeline.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Publishes like `nats pub`: plain core publishes, then a flush. */
export async function publishAll(nc: NatsConnection, messages: TestMessage[]): Promise<void> {
  for (const m of messages) nc.publish(m.subject, m.body);
  await nc.flush();
}

/** Messages in `stream`; for EVENTS, events (a batch message counts as its events). */
export async function streamCount(nc: NatsConnection, stream: string): Promise<number> {
  if (stream === "EVENTS") return streamEvents(nc, stream);
  const info = await (await jetstreamManager(nc)).streams.info(stream);
  return info.state.messages;
}
