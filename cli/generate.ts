import { appendFileSync } from "node:fs";
import { loadConfig } from "../config/index.ts";
import { createLogger } from "../actors/runtime/log.ts";
import { startPublisher } from "../actors/generate/publisher.ts";
import { isSource, SOURCES, type Source } from "../subjects/sources.ts";
import { parse, positiveNumber, UsageError } from "./args.ts";
import { untilSignal } from "./signals.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = "sluice generate [--rate N] [--duration SECONDS] [--sources iot,social,txn] [--seed N] [--anomaly-rate F] [--labels FILE]";

export function parseSources(value: string): Source[] {
  const list = value.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((s) => !isSource(s));
  if (bad.length || list.length === 0) throw new UsageError(`--sources ${JSON.stringify(value)}: expected a comma-separated list of ${SOURCES.join(", ")}`);
  return list as Source[];
}

export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values } = parse(argv, {
    rate: { type: "string" },
    duration: { type: "string" },
    sources: { type: "string" },
    seed: { type: "string" },
    "anomaly-rate": { type: "string" },
    labels: { type: "string" },
  }, USAGE);
  const config = loadConfig(env);
  const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  if (!natsUrl) throw new UsageError("no NATS server: set NATS_URL or start one with `sluice up`");
  const anomalyRate = positiveNumber(values["anomaly-rate"], "--anomaly-rate", 0);
  if (anomalyRate > 1) throw new UsageError(`--anomaly-rate ${anomalyRate}: expected a fraction from 0 to 1`);
  const log = createLogger(config.logLevel);
  const labels = values.labels;
  const publisher = await startPublisher({
    natsUrl,
    config,
    rate: positiveNumber(values.rate, "--rate", 100),
    durationSeconds: positiveNumber(values.duration, "--duration", 0),
    sources: parseSources(values.sources ?? SOURCES.join(",")),
    seed: positiveNumber(values.seed, "--seed", 1),
    anomalyRate,
    log,
    onLabel: labels ? (l) => appendFileSync(labels, JSON.stringify(l) + "\n") : undefined,
  });
  // The publisher logs what RAW stored and what it dropped as duplicates.
  const counts = await Promise.race([publisher.done, untilSignal().then(() => publisher.stop())]);
  return counts.failed > 0 ? 1 : 0;
}
