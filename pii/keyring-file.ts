import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { KeyringError, newKeyring, parseKeyring, serializeKeyring, type Keyring } from "./keyring.ts";

/**
 * Where the process finds its keyring: `inline` (SLUICE_PII_KEYS, the document itself) wins over
 * `path` (SLUICE_KEYRING, default `<state dir>/keys/keyring.json`).
 */
export interface KeyringLocation {
  readonly path: string;
  readonly inline?: string;
}

/** The keyring at `where`, or undefined when neither the variable nor the file exists. */
export function readKeyring(where: KeyringLocation): Keyring | undefined {
  if (where.inline !== undefined) return parseKeyring(where.inline, "SLUICE_PII_KEYS");
  if (!existsSync(where.path)) return undefined;
  return parseKeyring(readFileSync(where.path, "utf8"), where.path);
}

/** The keyring at `where`; a clear error when there is none, since protection must not pass values through. */
export function requireKeyring(where: KeyringLocation): Keyring {
  const ring = readKeyring(where);
  if (!ring) throw new KeyringError(where.path, "does not exist and SLUICE_PII_KEYS is not set; create one with `sluice keys init` (the schemas' x-sluice-pii rules tokenize and encrypt)");
  return ring;
}

/** Writes the keyring with mode 0600, through a rename so a reader never sees half a file. */
export function writeKeyring(path: string, ring: Keyring): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, serializeKeyring(ring), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/**
 * The keyring `sluice up` starts with: the configured one, or, when `create` (nothing configured)
 * and there is none yet, a new one written to `where.path` (mode 0600). A configured location that
 * does not exist is left alone, so validate refuses to start naming it instead of protecting with
 * keys nobody knows about.
 */
export function ensureKeyring(where: KeyringLocation, create: boolean): { readonly ring: Keyring | undefined; readonly created: boolean } {
  const ring = readKeyring(where);
  if (ring || !create || where.inline !== undefined) return { ring, created: false };
  const fresh = newKeyring();
  writeKeyring(where.path, fresh);
  return { ring: fresh, created: true };
}
