import { encrypt, generalize, mask, tokenize } from "./actions.ts";
import { KeyringError, type Keyring } from "./keyring.ts";
import { needsKeys, type PiiPolicy, type PiiRule } from "./policy.ts";

/**
 * Applies a source's PII policy to a payload: what the ingest chain does to every event before it
 * is published to EVENTS, and to the body of a dead letter before it is published to DLQ, so the
 * clear value stays in RAW alone.
 *
 * @example
 * const protect = createProtector(() => policyOf(schema), keyring);
 * protect("txn", { card_number: "4111111111111111" }); // { card_number: "tok_…" }
 */
export type Protector = (source: string, payload: Readonly<Record<string, unknown>>, context?: string) => Record<string, unknown>;

function apply(rule: PiiRule, field: string, value: unknown, ring: Keyring, context: string | undefined): unknown {
  switch (rule.action) {
    case "mask":
      return mask(value);
    case "tokenize":
      return tokenize(value, ring.tokenKey);
    case "encrypt":
      return encrypt(value, field, ring, context);
    case "generalize":
      return generalize(value, rule);
    case "drop":
      return undefined;
  }
}

/**
 * `context` (the event's id) makes encryption repeatable for the same event (pii/actions.ts).
 * `policyOf(source)` is read on every call (the registry's current version may change); a policy
 * that tokenizes or encrypts with no keyring is a KeyringError, never a pass-through.
 */
export function createProtector(policyOf: (source: string) => PiiPolicy, keyring: Keyring | undefined): Protector {
  return (source, payload, context) => {
    const policy = policyOf(source);
    if (policy.size === 0) return payload as Record<string, unknown>;
    if (!keyring && needsKeys(policy)) {
      throw new KeyringError("(none)", `source ${source}'s schema tokenizes or encrypts fields, and no keyring is configured: run \`sluice keys init\` or set SLUICE_KEYRING / SLUICE_PII_KEYS`);
    }
    let out: Record<string, unknown> | undefined;
    for (const [field, rule] of policy) {
      if (!(field in payload) || payload[field] === null) continue;
      out ??= { ...payload };
      const value = apply(rule, field, payload[field], keyring!, context);
      if (value === undefined) delete out[field];
      else out[field] = value;
    }
    return out ?? (payload as Record<string, unknown>);
  };
}

/** Fields a policy protects: what reasons and logs must not quote. */
export function protectedFields(policy: PiiPolicy): ReadonlySet<string> {
  return new Set(policy.keys());
}
