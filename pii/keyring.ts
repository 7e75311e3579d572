import { randomBytes } from "node:crypto";

/**
 * The keys PII protection uses. `tokenKey` keys the HMAC of `tokenize` and is never rotated by
 * `sluice keys rotate`: a new token key would give every customer a new token, and joins and
 * per-customer windows across the change would break. `keys` are AES-256-GCM keys by id;
 * `current` encrypts, every listed key still decrypts, so a rotation needs no downtime.
 *
 * @example
 * const ring = parseKeyring(text, "keyring.json");
 * ring.keys.get(ring.current); // 32-byte Buffer
 */
export interface Keyring {
  readonly tokenKey: Buffer;
  readonly current: string;
  readonly keys: ReadonlyMap<string, Buffer>;
  /** When each key was made (ISO), for `sluice keys ls`. */
  readonly created: ReadonlyMap<string, string>;
}

/** The keyring's file form (also the form of SLUICE_PII_KEYS): keys as base64. */
export interface KeyringDocument {
  readonly version: 1;
  readonly token_key: string;
  readonly current: string;
  readonly keys: ReadonlyArray<{ readonly id: string; readonly key: string; readonly created: string }>;
}

/** A keyring that cannot be used; names where it came from and which field is wrong, never a key. */
export class KeyringError extends Error {
  readonly origin: string;
  readonly field: string | undefined;
  constructor(origin: string, message: string, field?: string) {
    super(`keyring ${origin}: ${message}`);
    this.name = "KeyringError";
    this.origin = origin;
    this.field = field;
  }
}

const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

function decodeKey(origin: string, field: string, value: unknown): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "base64") : undefined;
  if (!bytes || bytes.length !== KEY_BYTES) throw new KeyringError(origin, `${field} must be ${KEY_BYTES} bytes as base64`, field);
  return bytes;
}

/** Reads a keyring document; `origin` (a file name or the variable's name) goes into errors. */
export function parseKeyring(text: string, origin: string): Keyring {
  let doc: Partial<KeyringDocument>;
  try {
    doc = JSON.parse(text) as Partial<KeyringDocument>;
  } catch {
    // The parser's message quotes the text around the error, which is key material.
    throw new KeyringError(origin, "is not valid JSON");
  }
  if (doc === null || typeof doc !== "object") throw new KeyringError(origin, "must be a JSON object");
  if (doc.version !== 1) throw new KeyringError(origin, `version must be 1, got ${JSON.stringify(doc.version)}`, "version");
  const tokenKey = decodeKey(origin, "token_key", doc.token_key);
  if (!Array.isArray(doc.keys) || doc.keys.length === 0) throw new KeyringError(origin, "keys must be a non-empty array", "keys");
  const keys = new Map<string, Buffer>();
  const created = new Map<string, string>();
  doc.keys.forEach((entry, i) => {
    if (typeof entry?.id !== "string" || !KEY_ID.test(entry.id)) throw new KeyringError(origin, `keys[${i}].id must match ${KEY_ID}`, `keys[${i}].id`);
    if (keys.has(entry.id)) throw new KeyringError(origin, `keys[${i}].id "${entry.id}" is listed twice`, `keys[${i}].id`);
    keys.set(entry.id, decodeKey(origin, `keys[${i}].key`, entry.key));
    created.set(entry.id, typeof entry.created === "string" ? entry.created : "");
  });
  if (typeof doc.current !== "string" || !keys.has(doc.current)) throw new KeyringError(origin, `current ${JSON.stringify(doc.current)} names no key of keys`, "current");
  return { tokenKey, current: doc.current, keys, created };
}

export function serializeKeyring(ring: Keyring): string {
  const doc: KeyringDocument = {
    version: 1,
    token_key: ring.tokenKey.toString("base64"),
    current: ring.current,
    keys: [...ring.keys].map(([id, key]) => ({ id, key: key.toString("base64"), created: ring.created.get(id) ?? "" })),
  };
  return JSON.stringify(doc, null, 2) + "\n";
}

/** A new keyring: a token key and one encryption key `k1`. */
export function newKeyring(nowMs = Date.now()): Keyring {
  return { tokenKey: randomBytes(KEY_BYTES), current: "k1", keys: new Map([["k1", randomBytes(KEY_BYTES)]]), created: new Map([["k1", new Date(nowMs).toISOString()]]) };
}

/** `ring` with a new current encryption key (`k<n+1>`); the old ones stay to decrypt, the token key stays. */
export function rotateKeyring(ring: Keyring, nowMs = Date.now()): Keyring {
  let n = ring.keys.size + 1;
  while (ring.keys.has(`k${n}`)) n++;
  const id = `k${n}`;
  return {
    tokenKey: ring.tokenKey,
    current: id,
    keys: new Map([...ring.keys, [id, randomBytes(KEY_BYTES)]]),
    created: new Map([...ring.created, [id, new Date(nowMs).toISOString()]]),
  };
}
