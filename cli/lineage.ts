import { loadConfig } from "../config/index.ts";
import { connectNats, closeNats } from "../nats/connect.ts";
import { eventLineage } from "../lineage/event.ts";
import { windowLineage } from "../lineage/window.ts";
import { formatEventLineage, formatWindowLineage } from "../lineage/format.ts";
import { natsRawReader } from "../lineage/raw.ts";
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
    const l = await eventLineage(id, { rows, raw: nc ? natsRawReader(nc) : undefined });
    console.log(values.format === "json" ? JSON.stringify(l, null, 2) : formatEventLineage(l));
    return l.event ? 0 : 1;
  } finally {
    if (nc) await closeNats(nc);
  }
}
