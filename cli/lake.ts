import { parseSinceMs } from "../config/duration.ts";
import { loadConfig, type Config } from "../config/index.ts";
import { formatResult, runQuery } from "../clickhouse/index.ts";
import { DATABASE } from "../clickhouse/schema.ts";
import { createLakeViews, fileKey, LakeStore, openMemoryEngine, replayRange, type Dataset, type ReplayProgress, type ReplayRange } from "../lake/index.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { streamOverrides } from "../actors/pipeline.ts";
import { closeNats, connectNats } from "../nats/connect.ts";
import { withDeadline } from "../nats/deadline.ts";
import { ensureStreams } from "../subjects/setup.ts";
import { parse, UsageError } from "./args.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = [
  "sluice lake ls [--dataset raw|events] [--source S]",
  'sluice lake sql "<query over sluice.lake_raw / sluice.lake_events>" [--format table|json]',
  "sluice lake replay --source S [--from T] [--to T] [--to-subject raw.<name>]",
].join("\n       ");

function time(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseSinceMs(text, Date.now());
  if (ms === undefined) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a duration back from now (2h, 7d), epoch ms, or an RFC 3339 time or date`);
  return ms;
}

/** `[#####.....] 1200/5000 24% 850 msg/s ETA 4s` */
export function progressLine(p: ReplayProgress, nowMs: number): string {
  const width = 30;
  const fraction = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
  const filled = Math.round(fraction * width);
  const seconds = Math.max(0.001, (nowMs - p.startedAt) / 1000);
  const rate = p.done / seconds;
  const eta = rate > 0 ? Math.ceil((p.total - p.done) / rate) : undefined;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${p.done}/${p.total} ${Math.floor(fraction * 100)}% ${Math.round(rate)} msg/s ETA ${eta === undefined ? "?" : `${eta}s`}`;
}

async function ls(config: Config, argv: string[]): Promise<number> {
  const { values } = parse(argv, { dataset: { type: "string", default: "raw" }, source: { type: "string" } }, USAGE);
  if (values.dataset !== "raw" && values.dataset !== "events") throw new UsageError(`--dataset ${values.dataset}: expected raw or events`);
  const engine = await openMemoryEngine();
  try {
    const store = new LakeStore(config.lake, engine.client);
    const files = await store.list(values.dataset as Dataset, values.source);
    for (const f of files) console.log(fileKey(f));
    console.log(`${files.length} files in ${config.lake.url}`);
  } finally {
    await engine.close();
  }
  return 0;
}

/**
 * The lake views in an in-memory engine of this process, for deployments whose ClickHouse reads
 * no Parquet (a 18.16 server); with the embedded engine `sluice sql` has the same views.
 */
async function sql(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { format: { type: "string", default: "table" } }, USAGE);
  const query = positionals.join(" ").trim();
  if (!query) throw new UsageError(`no query given\nusage: ${USAGE}`);
  if (values.format !== "table" && values.format !== "json") throw new UsageError(`--format ${values.format}: expected table or json`);
  const engine = await openMemoryEngine();
  try {
    await engine.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${DATABASE}` });
    await createLakeViews(engine.client, config.lake);
    const { columns, rows } = await runQuery(engine.client, query);
    console.log(formatResult({ columns, rows }, values.format));
  } finally {
    await engine.close();
  }
  return 0;
}

async function replay(config: Config, argv: string[]): Promise<number> {
  const { values } = parse(argv, { source: { type: "string" }, from: { type: "string" }, to: { type: "string" }, "to-subject": { type: "string" } }, USAGE);
  if (!values.source) throw new UsageError(`--source is required\nusage: ${USAGE}`);
  const toSubject = values["to-subject"];
  if (toSubject !== undefined && !/^raw\.[A-Za-z0-9_-]+$/.test(toSubject)) throw new UsageError(`--to-subject ${JSON.stringify(toSubject)}: expected raw.<name> (the key tokens of each message follow it)`);
  const range: ReplayRange = { source: values.source, fromMs: time(values.from, "--from"), toMs: time(values.to, "--to"), toSubject };
  const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  if (!natsUrl) throw new UsageError("no NATS server: set NATS_URL or start `sluice up`");
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const nc = await connectNats(natsUrl, config, "sluice:lake-replay", { signal: stop.signal });
  // Replaying into a server whose streams are gone (RAW aged out, a new deployment) recreates them; existing ones are left as they are (sluice up scales them).
  await withDeadline(async () => ensureStreams(await jetstreamManager(nc), streamOverrides(config), { createOnly: true, warn: (m) => console.error(m) }), { what: "check the streams", signal: stop.signal });
  const engine = await openMemoryEngine();
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  try {
    const result = await replayRange({
      nc,
      store: new LakeStore(config.lake, engine.client),
      range,
      stateDir: config.stateDir,
      signal: stop.signal,
      onProgress: (p) => {
        const now = Date.now();
        if (tty) process.stderr.write(`\r${progressLine(p, now)}`);
        else if (now - lastLine >= 2_000 || p.done === p.total) {
          lastLine = now;
          process.stderr.write(`${progressLine(p, now)}\n`);
        }
      },
    });
    if (tty) process.stderr.write("\n");
    const what = `${result.done}/${result.total} messages of ${range.source} from ${config.lake.url} (${result.duplicates} already stored within RAW's duplicate window)`;
    if (!result.complete) {
      console.log(`stopped after ${what}; run the same command again to resume`);
      return 130;
    }
    console.log(`replayed ${what}${result.resumedAt ? `, resumed after sequence ${result.resumedAt}` : ""}`);
    return 0;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    await engine.close();
    await closeNats(nc);
  }
}

export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const [sub, ...rest] = argv;
  const config = loadConfig(env);
  if (sub === "ls") return ls(config, rest);
  if (sub === "replay") return replay(config, rest);
  if (sub === "sql") return sql(config, rest);
  throw new UsageError(`unknown lake command ${JSON.stringify(sub ?? "")}\nusage: ${USAGE}`);
}
