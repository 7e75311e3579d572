import { Kvm, type KV, type KvEntry, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import { withDeadline } from "../nats/deadline.ts";
import type { ReferenceCache } from "./enrich.ts";
import { REFERENCE_BUCKET_OPTIONS, referenceBucket, type ReferenceKind } from "./kinds.ts";
import { canonicalEntry } from "./load.ts";

const decoder = new TextDecoder();

/** A kind's bucket, created with {@link REFERENCE_BUCKET_OPTIONS} if missing. */
export function openReferenceBucket(nc: NatsConnection, kind: ReferenceKind, signal?: AbortSignal): Promise<KV> {
  return withDeadline(new Kvm(nc).create(referenceBucket(kind), REFERENCE_BUCKET_OPTIONS), { what: `kv ${referenceBucket(kind)}`, signal });
}

/** A reference value as stored: a JSON object. Anything else is left out of the cache (sluice ref refuses to write it). */
export function entryFields(value: Uint8Array): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(decoder.decode(value)) as unknown;
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function apply(cache: ReferenceCache, kind: ReferenceKind, entry: KvEntry | KvWatchEntry): void {
  const fields = entry.operation === "PUT" ? entryFields(entry.value) : undefined;
  cache.set(kind, entry.key, fields ? { fields, revision: entry.revision } : undefined);
}

/**
 * Fills `cache` from the buckets (every key, with deadlines), then follows each bucket with a KV
 * watch from the revision after the load, so an update is applied as soon as the server sends it.
 * A watch that ends (a reconnect) resumes after the last revision applied. `stop()` ends them all.
 */
export async function followReferences(buckets: ReadonlyMap<ReferenceKind, KV>, cache: ReferenceCache, opts: { signal: AbortSignal; warn: (message: string) => void }): Promise<{ stop(): Promise<void> }> {
  const last = new Map<ReferenceKind, number>();
  for (const [kind, kv] of buckets) {
    const keys = await withDeadline(async () => {
      const out: string[] = [];
      for await (const key of await kv.keys()) out.push(key);
      return out;
    }, { what: `kv ${kind} keys`, signal: opts.signal });
    let revision = 0;
    for (const key of keys) {
      const entry = await withDeadline(kv.get(key), { what: `kv ${kind} get`, signal: opts.signal });
      if (!entry) continue;
      apply(cache, kind, entry);
      revision = Math.max(revision, entry.revision);
    }
    last.set(kind, revision);
  }
  let stopped = false;
  const iterators = new Set<QueuedIterator<KvWatchEntry>>();
  const loops = [...buckets].map(async ([kind, kv]) => {
    while (!stopped && !opts.signal.aborted) {
      try {
        const iterator = await withDeadline(kv.watch({ key: ">", resumeFromRevision: (last.get(kind) ?? 0) + 1 }), { what: `kv ${kind} watch`, signal: opts.signal });
        iterators.add(iterator);
        if (stopped) iterator.stop();
        for await (const entry of iterator) {
          apply(cache, kind, entry);
          last.set(kind, Math.max(last.get(kind) ?? 0, entry.revision));
        }
        iterators.delete(iterator);
      } catch (err) {
        if (!stopped && !opts.signal.aborted) opts.warn(`reference ${kind}: watch ended (${(err as Error).message}); resuming after revision ${last.get(kind) ?? 0}`);
      }
      if (!stopped && !opts.signal.aborted) await new Promise((r) => setTimeout(r, 250));
    }
  });
  return {
    async stop() {
      stopped = true;
      for (const it of iterators) it.stop();
      await Promise.allSettled(loops);
    },
  };
}

/** What a load did: entries written for the first time, changed, or left as they were. */
export interface LoadCounts {
  inserted: number;
  updated: number;
  unchanged: number;
}

/**
 * Writes reference entries to a kind's bucket, idempotently: an entry already stored with the same
 * fields (compared in canonical form) is not written again, so reloading a file adds no revision.
 */
export async function writeReferences(kv: KV, rows: ReadonlyArray<{ readonly key: string; readonly fields: Readonly<Record<string, unknown>> }>, opts: { signal?: AbortSignal } = {}): Promise<LoadCounts> {
  const counts: LoadCounts = { inserted: 0, updated: 0, unchanged: 0 };
  for (const row of rows) {
    const value = canonicalEntry(row.fields);
    const existing = await withDeadline(kv.get(row.key), { what: `kv get ${row.key}`, signal: opts.signal });
    const stored = existing && existing.operation === "PUT" ? existing.string() : undefined;
    if (stored === value) {
      counts.unchanged++;
      continue;
    }
    await withDeadline(kv.put(row.key, value), { what: `kv put ${row.key}`, signal: opts.signal });
    if (stored === undefined) counts.inserted++;
    else counts.updated++;
  }
  return counts;
}
