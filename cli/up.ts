import { applyHeapPolicy } from "../otel/memory.ts";
import { loadConfig, type Config } from "../config/index.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { ACTOR_NAMES, startPipeline, streamOverrides, type ActorName, type Pipeline } from "../actors/pipeline.ts";
import { AbortedError } from "../nats/deadline.ts";
import { closeNats, connectNats } from "../nats/connect.ts";
import { ensureStreams } from "../subjects/setup.ts";
import { ensureBucketReplicas } from "../actors/replication.ts";
import { createLogger } from "../actors/runtime/log.ts";
import { startPublisher, type Publisher } from "../actors/generate/publisher.ts";
import { SOURCES } from "../subjects/sources.ts";
import { startTelemetry } from "../otel/index.ts";
import { parse, positiveNumber } from "./args.ts";
import { parseSources } from "./generate.ts";
import { startLocalNats, type LocalNats } from "./local-nats.ts";
import { flushTelemetry, handleShutdown } from "./signals.ts";
import { ActorProcesses } from "./children.ts";
import { startApi } from "../api/start.ts";
import { pipelineTopology } from "../actors/topology.ts";
import { sourceWatermarks } from "../actors/window/metrics.ts";
import { startPipelineLineage } from "./lineage.ts";
import { clearLocalNatsUrl, writeLocalNatsUrl } from "./state.ts";
import { SchemaRegistry } from "../subjects/registry/index.ts";
import { natsCliFlags } from "./creds.ts";
import { ensureKeyring } from "../pii/index.ts";

const USAGE = "sluice up [--no-generate] [--rate N] [--sources iot,social,txn] [--seed N] [--anomaly-rate F] [--split]";
/**
 * Shares of the stop deadline under `--split`: a child's own deadline ends first, so it logs what
 * it was stuck on; then our SIGKILL; the rest is ours.
 */
const CHILD_DEADLINE_SHARE = 0.6;
const CHILD_GRACE_SHARE = 0.8;

/**
 * The processes of `--split`: one per actor, except that the sinks share one process with the
 * embedded engine, which only one process can open.
 */
function splitGroups(config: Config): ActorName[][] {
  if (config.clickhouseUrl) return ACTOR_NAMES.map((name) => [name]);
  const sinks = ACTOR_NAMES.filter((name) => name.startsWith("clickhouse-sink"));
  return [...ACTOR_NAMES.filter((name) => !sinks.includes(name)).map((name) => [name]), sinks];
}

function banner(config: Config, natsUrl: string, generating: boolean, apiUrl: string, keyring: string): string {
  const natsFlag = (natsUrl === "nats://127.0.0.1:4222" ? "" : ` -s ${natsUrl}`) + natsCliFlags(config, "producer");
  return [
    "",
    "sluice is up.",
    `  NATS        ${natsUrl}`,
    `  ClickHouse  ${config.clickhouseUrl ?? `embedded chDB in ${config.stateDir}/clickhouse`}`,
    `  traces      ${config.otlpEndpoint ? `${config.otlpEndpoint} (Jaeger UI: http://localhost:16686)` : "not exported (set OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318)"}`,
    `  generator   ${generating ? "on" : "off"}`,
    `  PII keys    ${keyring}`,
    `  API         ${apiUrl}  (${apiUrl}/openapi.json, ${apiUrl}/v1/anomalies?since=15m)`,
    "",
    "Publish your own events:",
    `  nats pub${natsFlag} raw.iot.sensor-1 '{"sensor_id":"sensor-1","ts":"{{TimeStamp}}","temperature":21.5}'`,
    `  nats pub${natsFlag} raw.txn.cust-9 '{"customer_id":"cust-9","merchant_id":"m-1","amount":12.5,"currency":"EUR","ts":{{Unix}}}' --count 10`,
    "",
    "Query (in another terminal):",
    `  npx sluice sql "SELECT source, count() FROM sluice.events FINAL GROUP BY source"`,
    `  npx sluice sql "SELECT key, metric, window_start, count, mean FROM sluice.window_aggregates FINAL ORDER BY window_start DESC LIMIT 10"`,
    `  npx sluice sql "SELECT actor, error_code, reason FROM sluice.dead_letters FINAL ORDER BY received_at DESC LIMIT 10"`,
    "",
    "Ctrl-C stops everything; data stays in the state dir.",
    "",
  ].join("\n");
}

export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values } = parse(argv, {
    "no-generate": { type: "boolean", default: false },
    rate: { type: "string" },
    sources: { type: "string" },
    seed: { type: "string" },
    "anomaly-rate": { type: "string" },
    split: { type: "boolean", default: false },
  }, USAGE);
  const config = loadConfig(env);
  applyHeapPolicy(config.heapGrowingPercent);
  const log = createLogger(config.logLevel);
  const rate = positiveNumber(values.rate, "--rate", 50);
  const sources = parseSources(values.sources ?? SOURCES.join(","));
  const seed = positiveNumber(values.seed, "--seed", 1);
  const anomalyRate = positiveNumber(values["anomaly-rate"], "--anomaly-rate", 0);
  const shutdown = handleShutdown({ deadlineMs: config.shutdownTimeoutMs, log });
  const { signal } = shutdown;
  const telemetry = startTelemetry({ endpoint: config.otlpEndpoint, log: (l) => log.warn(l) });

  // What has started, stopped in reverse order (generator and API first, nats-server last).
  const stops: Array<{ name: string; stop: () => Promise<unknown>; detail?: () => string[] }> = [];
  stops.push({ name: "telemetry flush", stop: () => flushTelemetry(telemetry, log) });
  let failure: unknown;
  try {
    // The shipped schemas tokenize and encrypt (x-sluice-pii): with nothing configured, the first `up` makes the keys.
    const keys = ensureKeyring(config.keyring, !env.SLUICE_KEYRING);
    if (keys.created) log.info(`PII keyring created at ${config.keyring.path} (mode 0600): back it up, encrypted fields cannot be read without it`);
    const keyring = config.keyring.inline !== undefined ? "SLUICE_PII_KEYS" : `${config.keyring.path}${keys.created ? " (created now)" : keys.ring ? "" : " (missing: sluice keys init)"}`;
    let natsUrl = config.natsUrl;
    if (!natsUrl) {
      const auth = config.natsAuth ? { credentialsDir: config.natsCredentialsDir, partitions: config.partitions } : undefined;
      const localNats: LocalNats = await startLocalNats(config.stateDir, log, { encrypted: config.jetstreamEncrypted, auth });
      shutdown.onForcedExit(() => localNats.kill());
      stops.push({ name: "nats-server", stop: async () => {
        await localNats.stop();
        clearLocalNatsUrl(config.stateDir);
      } });
      natsUrl = localNats.url;
      writeLocalNatsUrl(config.stateDir, natsUrl);
    }

    const setup = await connectNats(natsUrl, config, "sluice:up", { signal, log });
    try {
      await ensureStreams(await jetstreamManager(setup), streamOverrides(config));
      // Before any actor opens its buckets: nats.js would create a missing one with one replica.
      const scaled = await ensureBucketReplicas(setup, config);
      if (scaled.length) log.info(`buckets at SLUICE_REPLICAS=${config.replicas}: ${scaled.join(", ")}`);
      // The shipped schemas are registered here, as admin: under authorization the actors only read the registry.
      await (await SchemaRegistry.open(setup, { log })).close();
    } finally {
      await closeNats(setup);
    }

    let pipeline: Pipeline | undefined;
    if (values.split) {
      const groups = splitGroups(config);
      const childDeadlineMs = Math.max(1_000, Math.floor(config.shutdownTimeoutMs * CHILD_DEADLINE_SHARE));
      const children = new ActorProcesses({ groups, env: { ...process.env, NATS_URL: natsUrl, SLUICE_SHUTDOWN_TIMEOUT_MS: String(childDeadlineMs) }, log });
      shutdown.onForcedExit(() => children.killAll());
      if (signal.aborted) throw new AbortedError("start");
      children.start();
      stops.push({ name: "actor processes", stop: () => children.stop(config.shutdownTimeoutMs * CHILD_GRACE_SHARE), detail: () => children.running() });
      log.info(`actor processes: ${groups.map((g) => g.join(",")).join("; ")}`);
    } else {
      const started = await startPipeline({ config, natsUrl, actors: ACTOR_NAMES, log, tracerFor: telemetry.tracerFor, signal });
      pipeline = started;
      stops.push({ name: "actors", stop: () => started.stop(), detail: () => started.running() });
    }

    if (!values["no-generate"] && !signal.aborted) {
      const publisher: Publisher = await startPublisher({ natsUrl, config, rate, sources, seed, anomalyRate, log, tracer: telemetry.tracerFor("generate"), references: true });
      stops.push({ name: "generator", stop: () => publisher.stop() });
    }
    if (signal.aborted) throw new AbortedError("start");
    const api = await startApi({ config, natsUrl, pipeline, topology: pipelineTopology(config.partitions), watermarks: sourceWatermarks, log });
    stops.push({ name: "api", stop: () => api.close() });
    const lineage = await startPipelineLineage({ config, natsUrl, clickhouse: pipeline?.clickhouse?.client, log });
    if (lineage) stops.push({ name: "openlineage", stop: () => lineage.stop() });
    console.log(banner(config, natsUrl, !values["no-generate"], api.url, keyring));
    log.info(`${await shutdown.requested}: stopping (${stops.map((s) => s.name).reverse().join(", ")})`);
  } catch (err) {
    if (err instanceof AbortedError && signal.aborted) {
      log.info(`${await shutdown.requested} while starting: stopping`);
    } else {
      failure = err;
      // The stop of what did start keeps the same deadline.
      shutdown.request("start failed");
    }
  }
  for (const s of stops.reverse()) {
    await shutdown.step(s.name, s.stop, s.detail).catch((err: Error) => log.warn(`stopping ${s.name}: ${err.message}`));
    log.debug(`${s.name} stopped`);
  }
  if (failure) throw failure;
  log.info("stopped");
  return 0;
}
