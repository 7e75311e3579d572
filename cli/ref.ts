import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { loadConfig } from "../config/index.ts";
import { canonicalEntry, entryFields, isReferenceKind, KIND_NAMES, openReferenceBucket, parseReferences, writeReferences } from "../enrich/index.ts";
import { withDeadline } from "../nats/deadline.ts";
import { connectNats, closeNats } from "../nats/connect.ts";
import { parse, UsageError } from "./args.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = `sluice ref load <kind> FILE.csv|FILE.jsonl
       sluice ref get <kind> <key>
       sluice ref put <kind> <key> '{"field": value, …}' | field=value …
       sluice ref rm <kind> <key>
       sluice ref ls <kind>
       sluice ref history <kind> <key>
kinds: ${KIND_NAMES.join(", ")}`;

/** `field=value` pairs as an entry: numbers become numbers, true/false booleans. */
function pairs(args: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(args.map((a) => {
    const eq = a.indexOf("=");
    if (eq < 1) throw new UsageError(`${JSON.stringify(a)} is not field=value`);
    const raw = a.slice(eq + 1);
    const value = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw === "true" ? true : raw === "false" ? false : raw;
    return [a.slice(0, eq), value];
  }));
}

function entryOf(args: readonly string[]): Record<string, unknown> {
  if (args.length === 1 && args[0].trim().startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args[0]);
    } catch {
      throw new UsageError("the entry is not valid JSON");
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError("the entry must be one JSON object");
    return parsed as Record<string, unknown>;
  }
  if (args.length === 0) throw new UsageError(`usage: ${USAGE}`);
  return pairs(args);
}

/**
 * `sluice ref`: the reference data the enrich stage joins events with, one NATS KV bucket per kind
 * (`sluice-ref-<kind>`). A change applies to events validated after it (the stage watches the buckets).
 */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { positionals } = parse(argv, {}, USAGE);
  const [what, kind, ...rest] = positionals;
  if (!what || !kind || !["load", "get", "put", "rm", "ls", "history"].includes(what)) throw new UsageError(`usage: ${USAGE}`);
  if (!isReferenceKind(kind)) throw new UsageError(`unknown kind ${JSON.stringify(kind)}; expected one of ${KIND_NAMES.join(", ")}`);
  const config = loadConfig(env);
  const natsUrl = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  if (!natsUrl) throw new UsageError("no NATS: set NATS_URL or start sluice up");
  const nc = await connectNats(natsUrl, config, "sluice:ref", { wait: false, dialTimeoutMs: 2_000 });
  try {
    const kv = await openReferenceBucket(nc, kind);
    if (what === "load") {
      const [file, ...extra] = rest;
      if (!file || extra.length) throw new UsageError(`usage: ${USAGE}`);
      const ext = extname(file).toLowerCase();
      const format = ext === ".csv" ? "csv" : ext === ".jsonl" || ext === ".ndjson" ? "jsonl" : undefined;
      if (!format) throw new UsageError(`${file}: expected a .csv or .jsonl file`);
      const { rows, errors } = parseReferences(kind, format, readFileSync(file, "utf8"));
      if (errors.length) {
        for (const e of errors.slice(0, 20)) console.error(`${file}:${e.line}: ${e.message}`);
        console.error(`${errors.length} malformed row${errors.length === 1 ? "" : "s"}; nothing loaded`);
        return 1;
      }
      const counts = await writeReferences(kv, rows);
      console.log(`${kind}: ${counts.inserted} inserted, ${counts.updated} updated, ${counts.unchanged} unchanged`);
      return 0;
    }
    if (what === "ls") {
      const keys: string[] = [];
      await withDeadline(async () => {
        for await (const key of await kv.keys()) keys.push(key);
      }, { what: `kv ${kind} keys` });
      for (const key of keys.sort()) console.log(key);
      return 0;
    }
    const [key, ...args] = rest;
    if (!key) throw new UsageError(`usage: ${USAGE}`);
    if (what === "get") {
      const entry = await withDeadline(kv.get(key), { what: `kv ${kind} get` });
      if (!entry || entry.operation !== "PUT") {
        console.error(`no ${kind} entry ${key}`);
        return 1;
      }
      console.log(`${JSON.stringify(entryFields(entry.value))}  (revision ${entry.revision}, ${entry.created.toISOString()})`);
      return 0;
    }
    if (what === "put") {
      const revision = await withDeadline(kv.put(key, canonicalEntry(entryOf(args))), { what: `kv ${kind} put` });
      console.log(`${kind} ${key}: revision ${revision}`);
      return 0;
    }
    if (what === "rm") {
      await withDeadline(kv.delete(key), { what: `kv ${kind} delete` });
      console.log(`${kind} ${key}: deleted (events now follow the missing-reference setting)`);
      return 0;
    }
    const history = await withDeadline(async () => {
      const out: string[] = [];
      for await (const e of await kv.history({ key })) out.push(`${String(e.revision).padStart(6)}  ${e.created.toISOString()}  ${e.operation === "PUT" ? e.string() : e.operation}`);
      return out;
    }, { what: `kv ${kind} history` });
    if (history.length === 0) {
      console.error(`no ${kind} entry ${key}`);
      return 1;
    }
    for (const line of history) console.log(line);
    return 0;
  } finally {
    await closeNats(nc);
  }
}
