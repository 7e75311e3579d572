import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { loadConfig, type Config } from "../config/index.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { ACTOR_NAMES, connectNats, startPipeline, streamOverrides } from "../actors/pipeline.ts";
import { ensureStreams } from "../subjects/setup.ts";
import { createLogger } from "../actors/runtime/log.ts";
import { startPublisher, type Publisher } from "../actors/generate/publisher.ts";
import { SOURCES } from "../subjects/sources.ts";
import { startTelemetry } from "../otel/index.ts";
import { parse, positiveNumber } from "./args.ts";
import { parseSources } from "./generate.ts";
import { startLocalNats, type LocalNats } from "./local-nats.ts";
import { untilSignal } from "./signals.ts";
import { startApi } from "../api/start.ts";
import { clearLocalNatsUrl, writeLocalNatsUrl } from "./state.ts";

const USAGE = "sluice up [--no-generate] [--rate N] [--sources iot,social,txn] [--seed N] [--anomaly-rate F] [--split]";

function banner(config: Config, natsUrl: string, generating: boolean, apiUrl: string): string {
  const natsFlag = natsUrl === "nats://127.0.0.1:4222" ? "" : ` -s ${natsUrl}`;
  return [
    "",
    "sluice is up.",
    `  NATS        ${natsUrl}`,
    `  ClickHouse  ${config.clickhouseUrl ?? `embedded chDB in ${config.stateDir}/clickhouse`}`,
    `  traces      ${config.otlpEndpoint ? `${config.otlpEndpoint} (Jaeger UI: http://localhost:16686)` : "not exported (set OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318)"}`,
    `  generator   ${generating ? "on" : "off"}`,
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
  const log = createLogger(config.logLevel);
  const rate = positiveNumber(values.rate, "--rate", 50);
  const sources = parseSources(values.sources ?? SOURCES.join(","));
  const seed = positiveNumber(values.seed, "--seed", 1);
  const anomalyRate = positiveNumber(values["anomaly-rate"], "--anomaly-rate", 0);
  const telemetry = startTelemetry({ endpoint: config.otlpEndpoint, log: (l) => log.warn(l) });

  let localNats: LocalNats | undefined;
  let natsUrl = config.natsUrl;
  if (!natsUrl) {
    localNats = await startLocalNats(config.stateDir, log);
    natsUrl = localNats.url;
    writeLocalNatsUrl(config.stateDir, natsUrl);
  }

  const setup = await connectNats(natsUrl, config, "sluice:up");
  await ensureStreams(await jetstreamManager(setup), streamOverrides(config));
  await setup.close();

  const children: ChildProcess[] = [];
  let pipeline: Awaited<ReturnType<typeof startPipeline>> | undefined;
  if (values.split) {
    const bin = fileURLToPath(new URL("../bin/sluice.js", import.meta.url));
    for (const name of ACTOR_NAMES) {
      children.push(spawn(process.execPath, [bin, "actor", name], { stdio: "inherit", env: { ...process.env, NATS_URL: natsUrl } }));
    }
    log.info(`one process per actor: ${ACTOR_NAMES.join(", ")}`);
  } else {
    pipeline = await startPipeline({ config, natsUrl, actors: ACTOR_NAMES, log, tracerFor: telemetry.tracerFor });
  }

  let publisher: Publisher | undefined;
  if (!values["no-generate"]) {
    publisher = await startPublisher({ natsUrl, config, rate, sources, seed, anomalyRate, log, tracer: telemetry.tracerFor("generate") });
  }
  const api = await startApi({ config, natsUrl, pipeline, log });
  console.log(banner(config, natsUrl, !!publisher, api.url));

  const signal = await untilSignal();
  log.info(`${signal}: stopping (generator, actors, ClickHouse, nats-server)`);
  await publisher?.stop();
  log.debug("generator stopped");
  await Promise.all(children.map((c) => new Promise((r) => {
    if (c.exitCode !== null) return r(undefined);
    c.once("exit", r);
    c.kill("SIGTERM");
  })));
  await api.close();
  await pipeline?.stop();
  log.debug("actors stopped");
  await telemetry.shutdown();
  log.debug("telemetry flushed");
  if (localNats) {
    await localNats.stop();
    clearLocalNatsUrl(config.stateDir);
  }
  log.info("stopped");
  return 0;
}
