import type { ClickHouseClient } from "@clickhouse/client";
import { loadConfig, type Config } from "../config/index.ts";
import type { Logger } from "../otel/log.ts";
import { allMetrics } from "../otel/metrics.ts";
import { clickhouseRows } from "../api/deps.ts";
import { pipelineTopology } from "../actors/topology.ts";
import { namespaceOf, startOpenLineage, tableFieldsFrom, transportFor, type OpenLineageEmitter } from "../lineage/openlineage.ts";
import { connectNats, closeNats } from "../nats/connect.ts";
import { eventLineage } from "../lineage/event.ts";
import { windowLineage } from "../lineage/window.ts";
import { formatEventLineage, formatWindowLineage } from "../lineage/format.ts";
import { natsRawReader } from "../lineage/raw.ts";
import { natsReferenceReader } from "../lineage/refs.ts";
import { parse, positiveNumber, UsageError } from "./args.ts";
import { sluiceRows } from "./rows.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = `sluice lineage event <event_id> [--format text|json]
       sluice lineage window <window_id> [--limit 100] [--format text|json]`;

/**
 * `sluice lineage event`: an event from its raw message (while RAW keeps it) to every row it
 * produced or contributed to. `sluice lineage window`: a window's definition, versions and inputs.
 */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, { format: { type: "string", default: "text" }, limit: { type: "string" } }, USAGE);
  const [what, id, ...rest] = positionals;
  if ((what !== "event" && what !== "window") || !id || rest.length) throw new UsageError(`usage: ${USAGE}`);
  if (values.format !== "text" && values.format !== "json") throw new UsageError(`--format ${values.format}: expected text or json`);
  const config = loadConfig(env);
  const rows = sluiceRows(config);
  if (what === "window") {
    const l = await windowLineage(id, { rows, limit: positiveNumber(values.limit, "--limit", 100) });
    console.log(values.format === "json" ? JSON.stringify(l, null, 2) : formatWindowLineage(l));
    return l.window ? 0 : 1;
  }
  const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  const nc = natsUrl ? await connectNats(natsUrl, config, "sluice:lineage", { wait: false, dialTimeoutMs: 1_000 }).catch(() => undefined) : undefined;
  try {
    const l = await eventLineage(id, { rows, raw: nc ? natsRawReader(nc) : undefined, references: nc ? natsReferenceReader(nc) : undefined });
    console.log(values.format === "json" ? JSON.stringify(l, null, 2) : formatEventLineage(l));
    return l.event ? 0 : 1;
  } finally {
    if (nc) await closeNats(nc);
  }
}

/**
 * OpenLineage run events of the actors `sluice up` runs, when OPENLINEAGE_URL is set; table
 * schemas from the pipeline's ClickHouse when this process has it.
 */
export async function startPipelineLineage(opts: { config: Config; natsUrl: string; clickhouse: ClickHouseClient | undefined; log: Logger }): Promise<OpenLineageEmitter | undefined> {
  const { config } = opts;
  if (!config.openLineageUrl) return undefined;
  const client = opts.clickhouse;
  return startOpenLineage({
    topology: pipelineTopology(config.partitions),
    transport: transportFor(config.openLineageUrl),
    metrics: allMetrics,
    namespaces: { nats: namespaceOf(opts.natsUrl, "nats://localhost:4222"), clickhouse: namespaceOf(config.clickhouseUrl, "clickhouse://embedded") },
    tableFields: client ? tableFieldsFrom(clickhouseRows(() => client)) : undefined,
    log: opts.log,
  });
}
