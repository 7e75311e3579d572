import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { withDeadline } from "../nats/deadline.ts";
import { entryFields, referenceBucket, type ReferenceKind } from "../enrich/index.ts";

/** A reference entry as KV history still holds it at one revision. */
export interface ReferenceRevision {
  readonly operation: "PUT" | "DEL" | "PURGE";
  readonly created: string;
  /** The entry's fields at that revision (a PUT of a JSON object). */
  readonly value?: Readonly<Record<string, unknown>>;
}

/**
 * A reference entry at the revision an event was enriched with; undefined when the bucket no
 * longer has it (KV keeps REFERENCE_BUCKET_OPTIONS.history revisions per key), or the bucket is gone.
 */
export type ReferenceReader = (kind: ReferenceKind, key: string, revision: number) => Promise<ReferenceRevision | undefined>;

/** Reads the buckets `sluice ref history` reads; it opens them, never creates one. */
export function natsReferenceReader(nc: NatsConnection, timeoutMs = 5_000): ReferenceReader {
  const buckets = new Map<ReferenceKind, Promise<KV | undefined>>();
  const bucket = (kind: ReferenceKind) => {
    let kv = buckets.get(kind);
    if (!kv) {
      kv = withDeadline(() => new Kvm(nc).open(referenceBucket(kind)), { what: `kv ${referenceBucket(kind)} open`, timeoutMs }).catch(() => undefined);
      buckets.set(kind, kv);
    }
    return kv;
  };
  return async (kind, key, revision) => {
    const kv = await bucket(kind);
    if (!kv) {
      buckets.delete(kind);
      return undefined;
    }
    // A get at a revision is the stream message at that sequence when it is still this key's.
    const entry = await withDeadline(() => kv.get(key, { revision }), { what: `kv ${referenceBucket(kind)} get ${key} at revision ${revision}`, timeoutMs }).catch((err: Error) => {
      // Past the bucket's history (or purged): the stream has no message at that sequence.
      if (/no message found|not found/i.test(err.message)) return null;
      throw err;
    });
    if (!entry || entry.revision !== revision) return undefined;
    const value = entry.operation === "PUT" ? entryFields(entry.value) : undefined;
    return { operation: entry.operation, created: entry.created.toISOString(), ...(value ? { value } : {}) };
  };
}
