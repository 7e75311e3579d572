/** The enrich stage: reference data per kind in NATS KV, a watched local cache, and the pure join of an event with its entry. */
export { REFERENCE_KINDS, KIND_NAMES, MISSING_REFERENCE_ACTIONS, isReferenceKind, referenceBucket, REFERENCE_BUCKET_OPTIONS, kindOfSource, type ReferenceKind, type MissingReference } from "./kinds.ts";
export { ReferenceCache, createEnricher, type ReferenceEntry } from "./enrich.ts";
export { followReferences, entryFields, openReferenceBucket, writeReferences, type LoadCounts } from "./kv.ts";
export { parseReferences, canonicalEntry, type ReferenceRow, type ParsedReferences } from "./load.ts";
