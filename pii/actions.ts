import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import type { Keyring } from "./keyring.ts";
import type { PiiRule } from "./policy.ts";

export const TOKEN_PREFIX = "tok_";
/** `enc:v1:<key id>:<base64url of nonce ‖ ciphertext ‖ tag>`. */
export const CIPHER_PREFIX = "enc:v1:";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A protected value that cannot be read back; names the field and why, never the value. */
export class PiiDecryptError extends Error {
  readonly field: string;
  readonly keyId: string | undefined;
  constructor(field: string, message: string, keyId?: string) {
    super(`${field}: ${message}`);
    this.name = "PiiDecryptError";
    this.field = field;
    this.keyId = keyId;
  }
}

/** The value as text, the form every action works on. */
function text(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function mask(value: unknown): string {
  const s = text(value);
  return s.length <= 4 ? "*".repeat(s.length) : "*".repeat(s.length - 4) + s.slice(-4);
}

/** Deterministic for one token key, and the same for a value in any field, so one e-mail joins across sources. */
export function tokenize(value: unknown, tokenKey: Buffer): string {
  return TOKEN_PREFIX + createHmac("sha256", tokenKey).update(text(value)).digest("base64url").slice(0, 32);
}

/**
 * The field name is the associated data: a ciphertext moved to another field does not decrypt.
 *
 * With a `context` (the event's id) the nonce is synthetic, an HMAC of context, field and value
 * under a key derived from the encryption key (the SIV construction): validating the same message
 * again gives the same ciphertext, so validate's output stays a function of its input (a replay
 * after a crash publishes what the first pass did), while equal values in other events still
 * differ. A nonce repeats only with the same value, so GCM's one-nonce-one-message rule holds.
 * Without a context the nonce is random.
 */
export function encrypt(value: unknown, field: string, ring: Keyring, context?: string): string {
  const key = ring.keys.get(ring.current)!;
  const plain = JSON.stringify(value);
  const nonce = context === undefined ? randomBytes(NONCE_BYTES) : syntheticNonce(key, context, field, plain);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(Buffer.from(field));
  const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return `${CIPHER_PREFIX}${ring.current}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString("base64url")}`;
}

function syntheticNonce(key: Buffer, context: string, field: string, plain: string): Buffer {
  const nonceKey = createHmac("sha256", key).update("sluice pii nonce v1").digest();
  return createHmac("sha256", nonceKey).update(JSON.stringify([context, field, plain])).digest().subarray(0, NONCE_BYTES);
}

export function isCiphertext(value: unknown): value is string {
  return typeof value === "string" && value.startsWith(CIPHER_PREFIX);
}

/** The value `encrypt` was given; PiiDecryptError when the key is missing or the text was altered. */
export function decrypt(ciphertext: string, field: string, ring: Keyring | undefined): unknown {
  if (!isCiphertext(ciphertext)) throw new PiiDecryptError(field, `is not a ciphertext (expected ${CIPHER_PREFIX}<key id>:…)`);
  const rest = ciphertext.slice(CIPHER_PREFIX.length);
  const colon = rest.indexOf(":");
  const keyId = rest.slice(0, colon);
  if (!ring) throw new PiiDecryptError(field, `needs key ${keyId}, and no keyring is configured`, keyId);
  const key = ring.keys.get(keyId);
  if (!key) throw new PiiDecryptError(field, `needs key ${keyId}, which the keyring does not hold (it has ${[...ring.keys.keys()].join(", ")})`, keyId);
  const bytes = Buffer.from(rest.slice(colon + 1), "base64url");
  if (colon < 1 || bytes.length < NONCE_BYTES + TAG_BYTES) throw new PiiDecryptError(field, "ciphertext is cut short", keyId);
  const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, NONCE_BYTES));
  decipher.setAAD(Buffer.from(field));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    const plain = Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
    return JSON.parse(plain.toString("utf8"));
  } catch {
    throw new PiiDecryptError(field, `does not decrypt with key ${keyId}: wrong key or altered ciphertext`, keyId);
  }
}

const HOUR = 3_600_000;

/** Coordinates to the grid; a time (RFC 3339 or epoch ms) down to the hour, in the form it came. */
export function generalize(value: unknown, rule: Extract<PiiRule, { action: "generalize" }>): unknown {
  if (rule.to === "hour") {
    if (typeof value === "number") return Math.floor(value / HOUR) * HOUR;
    const ms = typeof value === "string" ? Date.parse(value) : NaN;
    return Number.isNaN(ms) ? undefined : new Date(Math.floor(ms / HOUR) * HOUR).toISOString();
  }
  if (typeof value !== "number") return undefined;
  // Rounded through the grid's decimal places so 0.1 * 523 prints as 52.3, not 52.300000000000004.
  const places = Math.max(0, Math.ceil(-Math.log10(rule.grid)) + 1);
  return Number((Math.round(value / rule.grid) * rule.grid).toFixed(places));
}
