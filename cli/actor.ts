import { applyHeapPolicy } from "../otel/memory.ts";
import { loadConfig } from "../config/index.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { ACTOR_NAMES, isActorName, startPipeline } from "../actors/pipeline.ts";
import { ensureBucketReplicas } from "../actors/replication.ts";
import { createLogger } from "../actors/runtime/log.ts";
import { startTelemetry } from "../otel/index.ts";
import { parse, UsageError } from "./args.ts";
import { AbortedError } from "../nats/deadline.ts";
import { flushTelemetry, handleShutdown } from "./signals.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = `sluice actor <name…>   (names: ${ACTOR_NAMES.join(", ")})`;

/** Runs some actors in this process: one process per actor, or several, against a running NATS. */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { positionals } = parse(argv, {}, USAGE);
  if (positionals.length === 0) throw new UsageError(`name at least one actor\nusage: ${USAGE}`);
  const unknown = positionals.filter((n) => !isActorName(n));
  if (unknown.length) throw new UsageError(`unknown actor ${unknown.join(", ")}; expected one of ${ACTOR_NAMES.join(", ")}`);
  const config = loadConfig(env);
  applyHeapPolicy(config.heapGrowingPercent);
  const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  if (!natsUrl) throw new UsageError("no NATS server: set NATS_URL (e.g. NATS_URL=nats://127.0.0.1:4222) or start one with `sluice up`");
  const log = createLogger(config.logLevel);
  const shutdown = handleShutdown({ deadlineMs: config.shutdownTimeoutMs, log });
  // Started by `sluice up --split` with an IPC channel: its end means the parent is gone (even a SIGKILL).
  if (process.channel) process.once("disconnect", () => shutdown.request("parent process exited"));
  const telemetry = startTelemetry({ endpoint: config.otlpEndpoint, log: (l) => log.warn(l) });
  const actors = positionals.filter(isActorName);
  // Before the actors open their buckets: nats.js would create a missing one with one replica.
  // As the process's own user: it may create its buckets, not change them (sluice up scales those).
  const prepare = async (nc: NatsConnection) => {
    const created = await ensureBucketReplicas(nc, config, { actors, createOnly: true, warn: (m) => log.warn(m) });
    if (created.length) log.info(`buckets at SLUICE_REPLICAS=${config.replicas}: ${created.join(", ")}`);
  };
  const pipeline = await startPipeline({ config, natsUrl, actors, log, tracerFor: telemetry.tracerFor, signal: shutdown.signal, prepare }).catch((err: unknown) => {
    if (err instanceof AbortedError && shutdown.signal.aborted) return undefined;
    throw err;
  });
  if (!pipeline) {
    log.info(`${await shutdown.requested} while waiting for NATS: stopped`);
    return 0;
  }
  log.info(`${await shutdown.requested}: draining`);
  await shutdown.step("actors", () => pipeline.stop(), () => pipeline.running());
  await shutdown.step("telemetry flush", () => flushTelemetry(telemetry, log));
  return 0;
}
