import { createInterface } from "node:readline/promises";
import { loadConfig } from "../config/index.ts";
import { auditEntry } from "../auth/audit.ts";
import { cliUser, idsTarget, recordAudit } from "./audit.ts";
import { parseSinceMs } from "../config/duration.ts";
import { formatResult, type Tabular } from "../clickhouse/index.ts";
import { connectNats } from "../nats/connect.ts";
import {
  getDeadLetter, listDeadLetters, originalEventId, payloadText, purgeDeadLetters, replayDeadLetters,
  type DeadLetter, type DlqFilter,
} from "../api/dlq.ts";
import { parse, UsageError } from "./args.ts";
import { readLocalNatsUrl } from "./state.ts";

const USAGE = `sluice dlq ls [--actor A] [--source S] [--reason R] [--since 1h] [--limit N] [--format table|json]
       sluice dlq show <id> [--format text|json]
       sluice dlq replay <id…> | [--actor A] [--source S] [--reason R] [--since 1h] [--limit N] | --all
       sluice dlq purge  <id…> | [--actor A] [--source S] [--reason R] [--since 1h] | --all  [--yes]`;

/** `--since 90m`, `2h`, `7d`, or an ISO time; returns epoch ms. */
export function parseSince(value: string, nowMs: number): number {
  const at = parseSinceMs(value, nowMs);
  if (at !== undefined) return at;
  throw new UsageError(`--since ${JSON.stringify(value)}: expected a duration such as 30m, 2h, 7d or an ISO time such as 2026-11-27T10:00:00Z`);
}

function ids(positionals: string[]): number[] | undefined {
  if (positionals.length === 0) return undefined;
  return positionals.map((p) => {
    const n = Number(p);
    if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${JSON.stringify(p)} is not a dead-letter id (the DLQ sequence that sluice dlq ls prints)`);
    return n;
  });
}

const ROW_COLUMNS = ["id", "failed_at", "actor", "source", "code", "subject", "attempts", "replays", "reason"];

function table(letters: readonly DeadLetter[]): Tabular {
  return {
    columns: ROW_COLUMNS.map((name) => ({ name, type: name === "id" || name === "attempts" || name === "replays" ? "UInt64" : "String" })),
    rows: letters.map((d) => [d.id, new Date(d.failedAt).toISOString(), d.actor, d.source, d.code, d.originalSubject, d.deliveries, d.replayCount, d.reason]),
  };
}

function describe(dl: DeadLetter): Record<string, unknown> {
  const text = payloadText(dl);
  return {
    id: dl.id,
    subject: dl.subject,
    actor: dl.actor,
    source: dl.source,
    code: dl.code,
    reason: dl.reason,
    original_subject: dl.originalSubject,
    original_stream: dl.originalStream,
    original_seq: dl.originalSeq,
    attempts: dl.deliveries,
    replays: dl.replayCount,
    failed_at: new Date(dl.failedAt).toISOString(),
    event_id: originalEventId(dl),
    headers: dl.headers,
    payload: text ?? null,
    payload_base64: text === undefined ? Buffer.from(dl.data).toString("base64") : undefined,
    payload_bytes: dl.data.length,
  };
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

function summary(letters: readonly DeadLetter[]): string {
  const groups = new Map<string, number>();
  for (const d of letters) groups.set(`${d.actor}/${d.source}/${d.code}`, (groups.get(`${d.actor}/${d.source}/${d.code}`) ?? 0) + 1);
  return [...groups].map(([g, n]) => `  ${n}\t${g}`).join("\n");
}

export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(rest, {
    actor: { type: "string" },
    source: { type: "string" },
    reason: { type: "string" },
    since: { type: "string" },
    limit: { type: "string" },
    format: { type: "string" },
    all: { type: "boolean", default: false },
    yes: { type: "boolean", default: false },
  }, USAGE);
  if (!["ls", "show", "replay", "purge"].includes(sub ?? "")) throw new UsageError(`expected ls, show, replay or purge\nusage: ${USAGE}`);
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`--limit ${JSON.stringify(values.limit)}: expected a whole number ≥ 1`);
  }
  const filter: DlqFilter = {
    actor: values.actor,
    source: values.source,
    reason: values.reason,
    sinceMs: values.since !== undefined ? parseSince(values.since, Date.now()) : undefined,
    ids: sub === "show" ? undefined : ids(positionals),
    limit: sub === "ls" ? (limit ?? 50) : limit,
  };
  const config = loadConfig(env);
  const url = config.natsUrl ?? readLocalNatsUrl(config.stateDir);
  if (!url) throw new UsageError("no NATS server: set NATS_URL or start one with sluice up");
  const nc = await connectNats(url, config, `sluice:dlq:${sub}`);
  try {
    if (sub === "show") {
      const [id] = ids(positionals) ?? [];
      if (!id || positionals.length !== 1) throw new UsageError(`give one id\nusage: ${USAGE}`);
      const dl = await getDeadLetter(nc, id);
      if (!dl) {
        console.error(`sluice dlq show: no dead letter ${id} (never stored, purged, or past the DLQ's 30 days)`);
        return 1;
      }
      const shown = describe(dl);
      if (values.format === "json") console.log(JSON.stringify(shown, null, 2));
      else for (const [k, v] of Object.entries(shown)) if (v !== undefined) console.log(`${k.padEnd(16)} ${typeof v === "string" ? v : JSON.stringify(v)}`);
      return 0;
    }
    if (sub === "ls") {
      const format = values.format ?? "table";
      if (format !== "table" && format !== "json") throw new UsageError(`--format ${format}: expected table or json`);
      const letters = await listDeadLetters(nc, filter);
      if (letters.length === 0 && format === "table") console.log("no dead letters match");
      else console.log(formatResult(table(letters), format, { maxCellWidth: 80 }));
      return 0;
    }
    const scoped = values.all || filter.ids || filter.actor || filter.source || filter.reason || filter.sinceMs !== undefined;
    if (!scoped) throw new UsageError(`say which dead letters to ${sub}: ids, a filter, or --all\nusage: ${USAGE}`);
    const letters = await listDeadLetters(nc, filter);
    if (letters.length === 0) {
      console.log("no dead letters match");
      return 0;
    }
    if (sub === "replay") {
      const results = await replayDeadLetters(nc, letters);
      const failed = results.filter((r) => r.error);
      const duplicates = results.filter((r) => !r.error && r.duplicate).length;
      for (const r of failed) console.error(`dead letter ${r.id}: ${r.error}`);
      console.log(`replayed ${results.length - failed.length} of ${letters.length} dead letters (${duplicates} already in the stream's duplicate window, not stored again); event ids are kept, so a replay never adds an event twice`);
      await recordAudit(config, auditEntry({ actor: cliUser(), role: "cli", via: "cli", action: "dlq.replay", target: idsTarget("dlq", results.filter((r) => !r.error).map((r) => r.id)), detail: `${results.length - failed.length} replayed, ${failed.length} failed` }));
      return failed.length ? 1 : 0;
    }
    if (!values.yes) {
      if (!process.stdin.isTTY) throw new UsageError(`purge needs confirmation: run it in a terminal or pass --yes`);
      console.error(`${letters.length} dead letters match:\n${summary(letters)}`);
      if (!(await confirm(`purge them from the DLQ stream? [y/N] `))) {
        console.log("nothing purged");
        return 1;
      }
    }
    const removed = await purgeDeadLetters(nc, filter, letters);
    console.log(`purged ${removed} dead letters from the DLQ stream (sluice.dead_letters keeps its rows)`);
    await recordAudit(config, auditEntry({ actor: cliUser(), role: "cli", via: "cli", action: "dlq.purge", target: idsTarget("dlq", letters.map((l) => l.id)), detail: `${removed} purged` }));
    return 0;
  } finally {
    await nc.close();
  }
}
