import { existsSync } from "node:fs";
import { loadConfig, type Config } from "../config/index.ts";
import { newKeyring, readKeyring, rotateKeyring, writeKeyring } from "../pii/index.ts";
import { parse, UsageError } from "./args.ts";

const USAGE = `sluice keys init | rotate | ls`;

function fileOnly(config: Config, what: string): string {
  if (config.keyring.inline !== undefined) throw new UsageError(`SLUICE_PII_KEYS is set, so the keyring lives in that variable; change it there (sluice keys ls shows what it holds)`);
  return config.keyring.path;
}

/**
 * `sluice keys`: the PII keyring (pii/keyring.ts). `init` writes a new one (mode 0600) and refuses
 * to overwrite; `rotate` adds a new current encryption key, keeping the old ones so earlier rows
 * still decrypt (restart the ingest processes to encrypt with it); `ls` shows key ids, never keys.
 */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { positionals } = parse(argv, {}, USAGE);
  const [what, ...rest] = positionals;
  if (rest.length || !["init", "rotate", "ls"].includes(what ?? "")) throw new UsageError(`usage: ${USAGE}`);
  const config = loadConfig(env);
  if (what === "init") {
    const path = fileOnly(config, "init");
    if (existsSync(path)) throw new UsageError(`${path} exists; sluice keys rotate adds a key (deleting the file loses every encrypted value and changes every token)`);
    writeKeyring(path, newKeyring());
    console.log(`wrote ${path} (mode 0600): token key and encryption key k1; keep a copy somewhere safe`);
    return 0;
  }
  const ring = readKeyring(config.keyring);
  if (!ring) throw new UsageError(`no keyring at ${config.keyring.path} and SLUICE_PII_KEYS is not set: sluice keys init`);
  if (what === "rotate") {
    const path = fileOnly(config, "rotate");
    const rotated = rotateKeyring(ring);
    writeKeyring(path, rotated);
    console.log(`${rotated.current} is the current encryption key; the older ones still decrypt (${[...ring.keys.keys()].join(", ")}). Restart the processes running validate to encrypt with it.`);
    return 0;
  }
  console.log(`keyring: ${config.keyring.inline !== undefined ? "SLUICE_PII_KEYS" : config.keyring.path}`);
  console.log("token key: set (never rotated: tokens stay stable)");
  for (const [id] of ring.keys) console.log(`${id === ring.current ? "* " : "  "}${id}  created ${ring.created.get(id) || "?"}`);
  return 0;
}
