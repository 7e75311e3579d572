/** PII protection: the schemas' `x-sluice-pii` rules, the keyring, and the scanner behind `sluice pii scan`. */
export { PII_KEYWORD, PII_ACTIONS, DEFAULT_GRID, PiiPolicyError, policyOf, needsKeys, type PiiAction, type PiiRule, type PiiPolicy } from "./policy.ts";
export { KeyringError, parseKeyring, serializeKeyring, newKeyring, rotateKeyring, type Keyring, type KeyringDocument } from "./keyring.ts";
export { ensureKeyring, readKeyring, requireKeyring, writeKeyring, type KeyringLocation } from "./keyring-file.ts";
export { mask, tokenize, encrypt, decrypt, generalize, isCiphertext, PiiDecryptError, TOKEN_PREFIX, CIPHER_PREFIX } from "./actions.ts";
export { createProtector, protectedFields, type Protector } from "./protect.ts";
export { createIngestProtection, type IngestProtection, type PolicySource } from "./ingest.ts";
export { scanValue, emptyCounts, total, luhn, PII_KINDS, type PiiKind, type PiiCounts } from "./scan.ts";
export { redactRaw, NOT_SHOWN_RAW } from "./redact.ts";
