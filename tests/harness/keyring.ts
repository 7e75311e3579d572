import { newKeyring, serializeKeyring } from "../../pii/index.ts";

/**
 * The keyring every pipeline and `sluice` process of one test file is given, the way an operator
 * configures SLUICE_PII_KEYS: the shipped schemas tokenize and encrypt, and validate refuses to
 * start without keys. One per test process, so a restart within a test keeps its tokens.
 */
export const TEST_PII_KEYS = serializeKeyring(newKeyring());

/** `env` with the test keyring, unless it names a keyring of its own (or deliberately none). */
export function withTestKeyring<T extends Record<string, string | undefined>>(env: T): T {
  return "SLUICE_KEYRING" in env || "SLUICE_PII_KEYS" in env ? env : { SLUICE_PII_KEYS: TEST_PII_KEYS, ...env };
}
