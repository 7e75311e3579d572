import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * API bearer tokens and their roles. A token is shown once when it is made; only its SHA-256 is
 * kept, in `<state dir>/api-tokens.json` (mode 0600). Roles nest: an admin may do what an
 * operator may, an operator what a viewer may.
 *
 * @example
 * const { token, record } = issueToken("viewer", "grafana");
 * saveTokens(path, [...loadTokens(path), record]);
 * findToken(loadTokens(path), token)?.role // "viewer"
 */

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Whether `held` includes what `needed` may do. */
export function roleAllows(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

export interface TokenRecord {
  /** Short public id, also the token's visible prefix: what `ls` shows and `revoke` takes. */
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** SHA-256 of the whole token, hex. */
  readonly sha256: string;
  readonly created_at: string;
  readonly created_by: string;
  readonly revoked_at?: string;
}

const PREFIX = "sluice";
const TOKEN = /^sluice_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$/;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A new token (`sluice_<id>_<32 random bytes>`) and the record that stores its hash. */
export function issueToken(role: Role, name: string, createdBy: string, now = new Date()): { token: string; record: TokenRecord } {
  const id = randomBytes(4).toString("hex");
  const token = `${PREFIX}_${id}_${randomBytes(32).toString("base64url")}`;
  return { token, record: { id, name, role, sha256: sha256(token), created_at: now.toISOString(), created_by: createdBy } };
}

/** The record a presented token matches (revoked ones included: the caller tells them apart), compared in constant time. */
export function findToken(records: readonly TokenRecord[], presented: string): TokenRecord | undefined {
  const match = TOKEN.exec(presented);
  if (!match) return undefined;
  const digest = Buffer.from(sha256(presented), "hex");
  return records.find((r) => r.id === match[1] && timingSafeEqual(Buffer.from(r.sha256, "hex"), digest));
}

export function tokensPath(stateDir: string): string {
  return join(stateDir, "api-tokens.json");
}

/** The stored records; none when the file is not there. */
export function loadTokens(path: string): TokenRecord[] {
  if (!existsSync(path)) return [];
  const parsed = JSON.parse(readFileSync(path, "utf8")) as { tokens?: TokenRecord[] };
  if (!Array.isArray(parsed.tokens)) throw new Error(`${path}: expected {"tokens": [...]}`);
  return parsed.tokens;
}

/** Writes the records atomically, mode 0600 (the hashes are not secrets, the names and roles are nobody else's business). */
export function saveTokens(path: string, records: readonly TokenRecord[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ tokens: records }, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/**
 * The records as of the file's last change, re-read at most every `checkMs`: a token made or
 * revoked by `sluice api token` takes effect in a running API within that time.
 */
export function watchTokens(path: string, checkMs = 1_000, now = Date.now): () => readonly TokenRecord[] {
  let records: TokenRecord[] = [];
  let seen = "";
  let checkedAt = -Infinity;
  return () => {
    if (now() - checkedAt < checkMs) return records;
    checkedAt = now();
    const stamp = existsSync(path) ? `${statSync(path).mtimeMs}:${statSync(path).size}` : "";
    if (stamp !== seen) {
      records = loadTokens(path);
      seen = stamp;
    }
    return records;
  };
}
