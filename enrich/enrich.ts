import { PoisonError } from "../subjects/errors.ts";
import { kindOfSource, REFERENCE_KINDS, type MissingReference, type ReferenceKind } from "./kinds.ts";

/** One reference entry as the cache holds it: its fields and the KV revision that wrote them. */
export interface ReferenceEntry {
  readonly fields: Readonly<Record<string, unknown>>;
  readonly revision: number;
}

/**
 * The local copy of the reference buckets, kept current by a KV watch (enrich/kv.ts). An update
 * applies to the next event handled after it; a delete removes the entry.
 */
export class ReferenceCache {
  private readonly byKind = new Map<ReferenceKind, Map<string, ReferenceEntry>>();

  set(kind: ReferenceKind, key: string, entry: ReferenceEntry | undefined): void {
    let entries = this.byKind.get(kind);
    if (!entries) this.byKind.set(kind, (entries = new Map()));
    if (entry) entries.set(key, entry);
    else entries.delete(key);
  }

  get(kind: ReferenceKind, key: string): ReferenceEntry | undefined {
    return this.byKind.get(kind)?.get(key);
  }

  size(kind: ReferenceKind): number {
    return this.byKind.get(kind)?.size ?? 0;
  }
}

/**
 * The enrich stage as a pure function: the payload with its entity's reference fields added as
 * `<prefix>_<field>` (scalars only: objects and arrays have no column), and `<prefix>_ref_rev`,
 * the KV revision used (lineage). Only kinds with at least one entry enrich. A missing entry adds `<prefix>_ref_missing: true`, or, where the
 * source says `dead_letter`, rejects the event with `missing_reference`.
 *
 * @example
 * cache.set("merchants", "m-1", { fields: { category: "grocery" }, revision: 7 });
 * enrich("txn", { merchant_id: "m-1", amount: 3 }); // { merchant_id: "m-1", amount: 3, merchant_category: "grocery", merchant_ref_rev: 7 }
 */
export function createEnricher(cache: ReferenceCache, missing: Readonly<Partial<Record<string, MissingReference>>> = {}) {
  return (source: string, payload: Record<string, unknown>): Record<string, unknown> | PoisonError => {
    const kind = kindOfSource(source);
    // A kind whose bucket holds nothing is not in use: its events pass unchanged, not all flagged.
    if (!kind || cache.size(kind) === 0) return payload;
    const { keyField, prefix } = REFERENCE_KINDS[kind];
    const key = String(payload[keyField]);
    const entry = cache.get(kind, key);
    if (!entry) {
      if (missing[source] === "dead_letter") return new PoisonError("missing_reference", `/${keyField}: no ${kind} reference entry for this key (sluice ref put ${kind} <key> …, or sluice ref load ${kind} FILE)`, { field: `/${keyField}` });
      return { ...payload, [`${prefix}_ref_missing`]: true };
    }
    const out: Record<string, unknown> = { ...payload };
    for (const [field, value] of Object.entries(entry.fields)) {
      if (value === null || typeof value === "object") continue;
      out[`${prefix}_${field}`] = value;
    }
    out[`${prefix}_ref_rev`] = entry.revision;
    return out;
  };
}
