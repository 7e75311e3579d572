import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** `sluice up` records the local nats-server's URL here so other commands find it. */
function urlFile(stateDir: string): string {
  return join(stateDir, "nats", "url");
}

export function writeLocalNatsUrl(stateDir: string, url: string): void {
  mkdirSync(join(stateDir, "nats"), { recursive: true });
  writeFileSync(urlFile(stateDir), url + "\n");
}

export function clearLocalNatsUrl(stateDir: string): void {
  rmSync(urlFile(stateDir), { force: true });
}

export function readLocalNatsUrl(stateDir: string): string | undefined {
  const file = urlFile(stateDir);
  return existsSync(file) ? readFileSync(file, "utf8").trim() || undefined : undefined;
}
