import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { withDeadline } from "../nats/deadline.ts";
import { HEADERS, STREAMS } from "../subjects/catalog.ts";
import { eventIdOf } from "../subjects/identity.ts";
import { hourStart, type LakeFile } from "./layout.ts";
import type { LakeRow } from "./rows.ts";
import type { LakeStore } from "./store.ts";

/** What to replay: one partition source's RAW messages whose stream time is in [fromMs, toMs). */
export interface ReplayRange {
  readonly source: string;
  readonly fromMs?: number;
  readonly toMs?: number;
  /** Publish to this subject prefix instead of `raw.<source>` (the key tokens are kept). */
  readonly toSubject?: string;
}

/** A message as the replay publishes it: original bytes and headers, the original event id as `Nats-Msg-Id`. */
export interface Republish {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msgId: string;
  readonly headers: Readonly<Record<string, string>>;
}

function payloadOf(data: Uint8Array): Record<string, unknown> {
  try {
    const value = JSON.parse(new TextDecoder().decode(data)) as unknown;
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * The message to publish for a lake row. Its `Nats-Msg-Id` is the event id the first delivery had
 * (subjects/identity.ts: the producer's header, else the payload's `event_id`, else a hash of
 * RAW and the original sequence), so validate gives the replayed message the same identity and
 * every table downstream stores it once. JetStream's own headers (`Nats-*`) are not carried over;
 * `Sluice-Replay-Count` is one more than the message had.
 */
export function republishOf(row: LakeRow, range: Pick<ReplayRange, "toSubject">): Republish {
  const headers = new Map(Object.entries(row.headers));
  const msgId = eventIdOf(headers, payloadOf(row.data), STREAMS.RAW.name, row.seq);
  const kept: Record<string, string> = {};
  for (const [k, v] of headers) if (!k.startsWith("Nats-")) kept[k] = v;
  // Counted like a dead-letter replay's, so a replayed message can be told from its first delivery.
  kept[HEADERS.replayCount] = String((Number(headers.get(HEADERS.replayCount)) || 0) + 1);
  const tokens = row.subject.split(".");
  const subject = range.toSubject ? [range.toSubject, ...tokens.slice(2)].join(".") : row.subject;
  return { subject, data: row.data, msgId, headers: kept };
}

/** The files that may hold messages of the range: by the hour of their partition. */
export function filesInRange(files: readonly LakeFile[], range: ReplayRange): LakeFile[] {
  const from = range.fromMs === undefined ? -Infinity : hourStart(range.fromMs);
  const to = range.toMs ?? Infinity;
  return files.filter((f) => f.source === range.source && f.hourMs >= from && f.hourMs < to).sort((a, b) => a.firstSeq - b.firstSeq);
}

const inRange = (row: LakeRow, range: ReplayRange) => (range.fromMs === undefined || row.timestampMs >= range.fromMs) && (range.toMs === undefined || row.timestampMs < range.toMs);

export interface ReplayProgress {
  readonly done: number;
  readonly total: number;
  /** Messages JetStream answered as duplicates (already stored within its window). */
  readonly duplicates: number;
  readonly startedAt: number;
}

/** Where an interrupted replay resumes: the last sequence whose message, and every one before, is stored. */
export interface ReplayPosition {
  readonly range: ReplayRange;
  readonly seq: number;
  readonly done: number;
}

/** One resume file per distinct range, under the state dir. */
export function positionFile(stateDir: string, range: ReplayRange): string {
  const id = createHash("sha256").update(JSON.stringify([range.source, range.fromMs ?? null, range.toMs ?? null, range.toSubject ?? null])).digest("hex").slice(0, 16);
  return join(stateDir, "lake-replay", `${range.source}-${id}.json`);
}

async function readPosition(path: string): Promise<ReplayPosition | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as ReplayPosition;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function writePosition(path: string, position: ReplayPosition): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(`${path}.tmp`, JSON.stringify(position));
  await rename(`${path}.tmp`, path);
}

export interface ReplayOptions {
  readonly nc: NatsConnection;
  readonly store: LakeStore;
  readonly range: ReplayRange;
  /** Directory of resume files (the state dir). */
  readonly stateDir: string;
  /** Ctrl-C: the publishes in flight finish, the position is saved, the replay returns. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ReplayProgress) => void;
  /** Publishes in flight at once. */
  readonly window?: number;
}

export interface ReplayResult extends ReplayProgress {
  /** False when stopped by the signal: run again with the same range to resume. */
  readonly complete: boolean;
  readonly resumedAt: number;
}

/**
 * Republishes a range of the lake into RAW, in stream order, `window` publishes in flight, each
 * with a deadline. After each window every earlier message is stored, and that position goes to
 * the resume file, so an interrupted replay resumes after it (a message published twice meanwhile
 * carries the same id, which RAW and the tables downstream store once). A finished replay removes
 * nothing: running it again republishes everything, and identity makes that harmless.
 */
export async function replayRange(opts: ReplayOptions): Promise<ReplayResult> {
  const { store, range, signal } = opts;
  const window = opts.window ?? 256;
  const js = jetstream(opts.nc);
  const path = positionFile(opts.stateDir, range);
  const saved = await readPosition(path);
  const files = filesInRange(await store.list("raw", range.source), range);
  const counts = await Promise.all(files.map((f) => store.count(f, range)));
  const total = counts.reduce((a, b) => a + b, 0);
  const resumedAt = saved?.seq ?? 0;
  let done = saved?.done ?? 0;
  let duplicates = 0;
  const startedAt = Date.now();
  const report = () => opts.onProgress?.({ done, total, duplicates, startedAt });
  report();
  for (const file of files) {
    if (file.lastSeq <= resumedAt) continue;
    const rows = (await store.read(file)).filter((r) => r.seq > resumedAt && inRange(r, range));
    for (let i = 0; i < rows.length; i += window) {
      if (signal?.aborted) return { done, total, duplicates, startedAt, complete: false, resumedAt };
      const chunk = rows.slice(i, i + window);
      const acks = await Promise.all(chunk.map((row) => {
        const out = republishOf(row, range);
        const h = natsHeaders();
        for (const [k, v] of Object.entries(out.headers)) h.set(k, v);
        return withDeadline(() => js.publish(out.subject, out.data, { headers: h, msgID: out.msgId }), { what: `replay ${STREAMS.RAW.name} seq ${row.seq} to ${out.subject}`, timeoutMs: 30_000 });
      }));
      duplicates += acks.filter((a) => a.duplicate).length;
      done += chunk.length;
      await writePosition(path, { range, seq: chunk[chunk.length - 1].seq, done });
      report();
    }
  }
  return { done, total, duplicates, startedAt, complete: true, resumedAt };
}

