import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DataDirLockedError } from "./errors.ts";

export const LOCK_FILE = "sluice.lock";

/** Lock files this process holds, so a lock with our own pid is told apart from a stale one left by an earlier process that had the same pid. */
const held = new Set<string>();

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readHolder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException).code === code;
}

/**
 * Takes `<dataDir>/sluice.lock` for this process, or throws {@link DataDirLockedError} naming
 * the live process that has it. A lock whose process is gone is taken over.
 *
 * The pid is written to a private file first and hard-linked into place, so the lock file
 * never exists without its pid in it.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  const staging = `${path}.${process.pid}.tmp`;
  writeFileSync(staging, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(staging, path);
        held.add(path);
        return { path, release: () => releaseLock(path) };
      } catch (err) {
        if (!isCode(err, "EEXIST")) throw err;
      }
      const holder = readHolder(path);
      if (holder !== undefined && (held.has(path) || (holder !== process.pid && isAlive(holder)))) {
        throw new DataDirLockedError(dataDir, path, holder);
      }
      // Stale: remove it only if it still names the dead holder, so a lock another process
      // has just taken over in the meantime is left alone.
      if (readHolder(path) === holder) {
        try {
          unlinkSync(path);
        } catch (err) {
          if (!isCode(err, "ENOENT")) throw err;
        }
      }
    }
    throw new Error(`could not take the lock ${path} after 5 attempts: other processes keep replacing it; retry when they have settled`);
  } finally {
    unlinkSync(staging);
  }
}

function releaseLock(path: string): void {
  if (!held.delete(path)) return;
  if (readHolder(path) !== process.pid) return;
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isCode(err, "ENOENT")) throw err;
  }
}
