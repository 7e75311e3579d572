import { jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadConfig } from "../config/index.ts";
import { DATABASE, TABLES } from "../clickhouse/schema.ts";
import { quoteString } from "../clickhouse/query.ts";
import { withDeadline } from "../nats/deadline.ts";
import { connectNats, closeNats } from "../nats/connect.ts";
import { decrypt, emptyCounts, isCiphertext, PII_KINDS, readKeyring, scanValue, total, type PiiCounts } from "../pii/index.ts";
import { parse, positiveNumber, UsageError } from "./args.ts";
import { sluiceRows, type Rows } from "./rows.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = `sluice pii decrypt <event_id>
       sluice pii scan [--limit 100000] [--format text|json]`;

/** Where `sluice pii scan` found what: a stream or a table, how many messages or rows it read, and counts per kind. */
export interface ScanFinding {
  readonly store: "stream" | "table";
  readonly name: string;
  readonly scanned: number;
  readonly counts: PiiCounts;
}

const decoder = new TextDecoder();

/** Scans the first `limit` messages of every stream: bodies and headers (dead-letter reasons travel in a header). */
async function scanStreams(nc: NatsConnection, limit: number): Promise<ScanFinding[]> {
  const jsm = await withDeadline(jetstreamManager(nc), { what: "jetstream manager" });
  const names: string[] = [];
  await withDeadline(async () => {
    for await (const name of jsm.streams.names()) names.push(name);
  }, { what: "stream names" });
  const out: ScanFinding[] = [];
  for (const name of names.sort()) {
    const info = await withDeadline(jsm.streams.info(name), { what: `stream ${name} info` });
    const counts = emptyCounts();
    let scanned = 0;
    if (info.state.messages > 0) {
      const last = Math.min(info.state.last_seq, info.state.first_seq + limit - 1);
      const consumer = await withDeadline(jetstream(nc).consumers.get(name), { what: `ordered consumer on ${name}` });
      await withDeadline(async () => {
        const messages = await consumer.consume({ max_messages: 1_000 });
        for await (const m of messages as AsyncIterable<JsMsg>) {
          scanned++;
          scanValue(decoder.decode(m.data), counts);
          if (m.headers) for (const key of m.headers.keys()) scanValue(m.headers.get(key), counts);
          if (m.seq >= last) break;
        }
        await messages.close();
      }, { what: `read ${Math.min(limit, info.state.messages)} messages of ${name}`, timeoutMs: 120_000 });
    }
    out.push({ store: "stream", name, scanned, counts });
  }
  return out;
}

/** Scans up to `limit` rows of every table of the sluice database (views are left out: they show the tables' rows). */
async function scanTables(rows: Rows, limit: number): Promise<ScanFinding[]> {
  const tables = await rows(`SELECT name FROM system.tables WHERE database = ${quoteString(DATABASE)} AND engine NOT IN ('View', 'MaterializedView') ORDER BY name`);
  const out: ScanFinding[] = [];
  for (const { name } of tables) {
    const found = await rows(`SELECT * FROM ${DATABASE}.\`${String(name)}\` LIMIT ${limit}`);
    const counts = emptyCounts();
    for (const row of found) scanValue(row, counts);
    out.push({ store: "table", name: `${DATABASE}.${String(name)}`, scanned: found.length, counts });
  }
  return out;
}

/** Every stream and every table, scanned for personal data in clear (pii/scan.ts). */
export async function scanStores(deps: { nc: NatsConnection | undefined; rows: Rows | undefined; limit?: number }): Promise<ScanFinding[]> {
  const limit = deps.limit ?? 100_000;
  return [...(deps.nc ? await scanStreams(deps.nc, limit) : []), ...(deps.rows ? await scanTables(deps.rows, limit) : [])];
}

/** The encrypted fields of a stored event, read back with the keyring. */
export async function decryptEvent(rows: Rows, eventId: string, keyring: Parameters<typeof decrypt>[2]): Promise<{ found: boolean; fields: Record<string, unknown> }> {
  const [row] = await rows(`SELECT payload FROM ${TABLES.events} FINAL WHERE event_id = ${quoteString(eventId)} LIMIT 1`);
  if (!row) return { found: false, fields: {} };
  const payload = JSON.parse(String(row.payload)) as Record<string, unknown>;
  const fields: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(payload)) if (isCiphertext(value)) fields[field] = decrypt(value, field, keyring);
  return { found: true, fields };
}

function formatScan(findings: readonly ScanFinding[]): string {
  const lines = findings.map((f) => {
    const found = PII_KINDS.filter((k) => f.counts[k] > 0).map((k) => `${k} ${f.counts[k]}`).join(", ") || "clean";
    const note = f.store === "stream" && f.name === "RAW" ? " (RAW holds clear values by design, for its retention)" : "";
    return `${f.store.padEnd(6)} ${f.name.padEnd(28)} ${String(f.scanned).padStart(8)} read  ${found}${note}`;
  });
  return lines.join("\n");
}

/**
 * `sluice pii decrypt <event_id>`: an operator holding the keyring reads an event's encrypted
 * fields back. `sluice pii scan`: where stored data still holds values that look like card
 * numbers, e-mail addresses or precise coordinates; exit 1 when anything but RAW does.
 */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(argv, { limit: { type: "string" }, format: { type: "string", default: "text" } }, USAGE);
  const [what, id, ...rest] = positionals;
  const config = loadConfig(env);
  const rows = sluiceRows(config);
  if (what === "decrypt" && id && !rest.length) {
    const { found, fields } = await decryptEvent(rows, id, readKeyring(config.keyring));
    if (!found) {
      console.error(`no event ${id} in ${TABLES.events}`);
      return 1;
    }
    if (Object.keys(fields).length === 0) console.log(`event ${id} has no encrypted field`);
    for (const [field, value] of Object.entries(fields)) console.log(`${field}: ${JSON.stringify(value)}`);
    return 0;
  }
  if (what !== "scan" || id) throw new UsageError(`usage: ${USAGE}`);
  if (values.format !== "text" && values.format !== "json") throw new UsageError(`--format ${values.format}: expected text or json`);
  const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  const nc = natsUrl ? await connectNats(natsUrl, config, "sluice:pii-scan", { wait: false, dialTimeoutMs: 1_000 }).catch(() => undefined) : undefined;
  try {
    const findings = await scanStores({ nc, rows, limit: positiveNumber(values.limit, "--limit", 100_000) });
    console.log(values.format === "json" ? JSON.stringify(findings, null, 2) : formatScan(findings));
    return findings.some((f) => !(f.store === "stream" && f.name === "RAW") && total(f.counts) > 0) ? 1 : 0;
  } finally {
    if (nc) await closeNats(nc);
  }
}
