import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../actors/runtime/actor.ts";
import { ensureNatsUsers, natsAuthorizationConfig } from "../auth/nats-users.ts";

export class NatsServerMissingError extends Error {
  constructor() {
    super("nats-server is not on PATH. Install it with `sudo apt-get install -y nats-server` (Debian/Ubuntu), or set NATS_URL to use a running server.");
    this.name = "NatsServerMissingError";
  }
}

function onPath(binary: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${binary}`], { stdio: "ignore" }).status === 0;
}

/** Finds nats-server; as root on Debian, installs the distribution's package first. */
export function ensureNatsServerBinary(log: Logger): void {
  if (onPath("nats-server")) return;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot || !onPath("apt-get")) throw new NatsServerMissingError();
  log.info("nats-server not found; installing Debian's nats-server package (apt-get install -y nats-server)");
  spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
  const install = spawnSync("apt-get", ["install", "-y", "-qq", "nats-server"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (install.status !== 0 || !onPath("nats-server")) throw new NatsServerMissingError();
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export interface LocalNats {
  readonly url: string;
  stop(): Promise<void>;
  /** SIGTERM without waiting, for a forced exit: the server must not outlive `sluice up`. */
  kill(): void;
}

/** Authorization for the local server: users generated from the actor declarations, secrets in `credentialsDir`. */
export interface LocalNatsAuth {
  readonly credentialsDir: string;
  readonly partitions: number;
}

/**
 * Starts a nats-server with JetStream whose store lives in the state dir, on 4222 when that port
 * is free (so `nats pub` works without flags) or on a free port otherwise. `encrypted`: the store
 * is encrypted with the key in SLUICE_JETSTREAM_KEY (the child inherits the environment). `auth`:
 * with authorization, every user's permissions derived again from the declarations (their
 * secrets, created on the first start, are kept), in `auth.conf` beside the config.
 */
export async function startLocalNats(stateDir: string, log: Logger, opts: { encrypted?: boolean; auth?: LocalNatsAuth } = {}): Promise<LocalNats> {
  ensureNatsServerBinary(log);
  const dir = join(stateDir, "nats");
  mkdirSync(dir, { recursive: true });
  const port = (await portIsFree(4222)) ? 4222 : -1;
  for (const f of readdirSync(dir)) if (f.endsWith(".ports")) rmSync(join(dir, f));
  if (opts.auth) {
    const users = ensureNatsUsers(opts.auth.credentialsDir, { partitions: opts.auth.partitions });
    writeFileSync(join(dir, "auth.conf"), natsAuthorizationConfig(users), { mode: 0o600 });
  } else {
    rmSync(join(dir, "auth.conf"), { force: true });
  }
  writeFileSync(join(dir, "nats-server.conf"), [
    `port: ${port}`,
    `host: 127.0.0.1`,
    `ports_file_dir: "${dir}"`,
    `max_payload: 1MB`,
    // With SLUICE_JETSTREAM_KEY the store is encrypted at rest; the config names the variable, so the key is not written to disk.
    `jetstream { store_dir: "${join(dir, "store")}"${opts.encrypted ? ", cipher: chachapoly, key: $SLUICE_JETSTREAM_KEY" : ""} }`,
    ...(opts.auth ? [`include "auth.conf"`] : []),
  ].join("\n") + "\n");
  // Its own process group: a terminal's Ctrl-C goes to the whole foreground group, and a server
  // stopped before the actors have drained leaves them reconnecting instead of finishing.
  const child: ChildProcess = spawn("nats-server", ["-c", join(dir, "nats-server.conf"), "-l", join(dir, "nats-server.log")], { stdio: "ignore", detached: true });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with code ${child.exitCode}; see ${join(dir, "nats-server.log")}`);
    const portsFile = readdirSync(dir).find((f) => f.endsWith(".ports"));
    if (portsFile && existsSync(join(dir, portsFile))) {
      const { nats } = JSON.parse(readFileSync(join(dir, portsFile), "utf8")) as { nats: string[] };
      const url = `nats://127.0.0.1:${new URL(nats[0]).port}`;
      return {
        url,
        async stop() {
          if (child.exitCode !== null) return;
          const exited = new Promise((r) => child.once("exit", r));
          child.kill("SIGTERM");
          await exited;
        },
        kill() {
          if (child.exitCode === null) child.kill("SIGTERM");
        },
      };
    }
    await sleep(25);
  }
  child.kill("SIGKILL");
  throw new Error(`nats-server did not start within 10 s; see ${join(dir, "nats-server.log")}`);
}
