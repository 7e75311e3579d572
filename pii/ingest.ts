import { KeyringError, type Keyring } from "./keyring.ts";
import { needsKeys, policyOf, type PiiPolicy } from "./policy.ts";
import { createProtector, type Protector } from "./protect.ts";

/** Where the policies come from: the schema registry's current version of each source (`SchemaRegistry` fits). */
export interface PolicySource {
  current(source: string): number;
  get(source: string, version: number): { readonly schema: object; readonly revision: number } | undefined;
}

/**
 * PII protection as the ingest chain uses it: the policy of each source's current schema version
 * (re-read when the registry's document changes), applied to valid payloads and to dead letters.
 */
export interface IngestProtection {
  readonly protect: Protector;
  /**
   * The body a dead letter of `source` carries instead of `data`: the JSON object with its personal
   * fields protected, or an empty body when `data` is no JSON object (its fields cannot be found,
   * and the original stays in RAW at the sequence the dead letter names). Undefined when the
   * source's policy protects nothing: the original bytes go. `context` (the RAW stream and
   * sequence) makes the body the same when the message is handled again.
   */
  deadLetterBody(source: string, data: Uint8Array, context?: string): Uint8Array | undefined;
  /** Throws a KeyringError when a current policy tokenizes or encrypts and there is no keyring: at start, not at the first event. */
  checkKeys(sources: readonly string[]): void;
}

const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

export function createIngestProtection(schemas: PolicySource, keyring: Keyring | undefined): IngestProtection {
  const cache = new Map<string, { version: number; revision: number; policy: PiiPolicy }>();
  const policyFor = (source: string): PiiPolicy => {
    const version = schemas.current(source);
    const entry = schemas.get(source, version);
    if (!entry) return new Map();
    const hit = cache.get(source);
    if (hit && hit.version === version && hit.revision === entry.revision) return hit.policy;
    const policy = policyOf(entry.schema);
    cache.set(source, { version, revision: entry.revision, policy });
    return policy;
  };
  const protect = createProtector(policyFor, keyring);
  return {
    protect,
    deadLetterBody(source, data, context) {
      if (policyFor(source).size === 0) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(decoder.decode(data));
      } catch {
        return EMPTY;
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return EMPTY;
      return encoder.encode(JSON.stringify(protect(source, parsed as Record<string, unknown>, context)));
    },
    checkKeys(sources) {
      if (keyring) return;
      const needing = sources.filter((s) => needsKeys(policyFor(s)));
      if (needing.length > 0) throw new KeyringError("(none)", `the current schemas of ${needing.join(", ")} tokenize or encrypt fields (x-sluice-pii), and no keyring is configured: run \`sluice keys init\` or set SLUICE_KEYRING / SLUICE_PII_KEYS`);
    },
  };
}
