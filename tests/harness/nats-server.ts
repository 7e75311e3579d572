import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A real nats-server with JetStream for one test file: free port, its own store dir,
 * killed by `stop()`. `restart()` keeps the port and the store, as a broker restart would.
 *
 * @example
 * const nats = await NatsServer.start();
 * const nc = await connect({ servers: nats.url });
 * await nats.stop();
 */
function parsePorts(text: string): { nats: string[] } | undefined {
  try {
    const ports = JSON.parse(text) as { nats?: string[] };
    return Array.isArray(ports.nats) && ports.nats.length > 0 ? { nats: ports.nats } : undefined;
  } catch {
    return undefined;
  }
}

export class NatsServer {
  readonly dir: string;
  port = 0;
  private child?: ChildProcess;
  /** nats-server `authorization` (and `tls`) config text, included on every (re)start; none: anyone may do anything. */
  private authorization?: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** The server's process id, e.g. to SIGSTOP it (a server that accepts connections and answers nothing). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** `authorization`: config text such as auth/nats-users.ts's natsAuthorizationConfig writes. */
  static async start(opts: { maxPayload?: number; authorization?: string } = {}): Promise<NatsServer> {
    const server = new NatsServer(mkdtempSync(join(tmpdir(), "sluice-nats-")));
    server.authorization = opts.authorization;
    server.writeConfig(-1, opts.maxPayload);
    await server.launch();
    return server;
  }

  private writeConfig(port: number, maxPayload?: number): void {
    const lines = [
      `port: ${port}`,
      `host: 127.0.0.1`,
      `ports_file_dir: "${this.dir}"`,
      `jetstream { store_dir: "${join(this.dir, "store")}" }`,
    ];
    if (maxPayload) lines.push(`max_payload: ${maxPayload}`);
    if (this.authorization) {
      writeFileSync(join(this.dir, "auth.conf"), this.authorization);
      lines.push(`include "auth.conf"`);
    }
    writeFileSync(join(this.dir, "server.conf"), lines.join("\n") + "\n");
  }

  private async launch(): Promise<void> {
    for (const f of readdirSync(this.dir)) if (f.endsWith(".ports")) rmSync(join(this.dir, f));
    const child = spawn("nats-server", ["-c", join(this.dir, "server.conf")], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr!.on("data", (d) => (log += d));
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`nats-server exited early:\n${log}`);
      const portsFile = readdirSync(this.dir).find((f) => f.endsWith(".ports"));
      if (portsFile) {
        // The server may not have finished writing it: an empty or cut file is read again.
        const ports = parsePorts(readFileSync(join(this.dir, portsFile), "utf8"));
        if (ports) {
          this.port = Number(new URL(ports.nats[0]).port);
          return;
        }
      }
      await sleep(25);
    }
    throw new Error(`nats-server did not write its ports file in 10 s:\n${log}`);
  }

  async restart(downMs = 0): Promise<void> {
    await this.kill("SIGTERM");
    if (downMs) await sleep(downMs);
    this.writeConfig(this.port);
    await this.launch();
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    // A process ended by a signal has exitCode null: without the signalCode check a second kill
    // (restart after a SIGKILL) would wait for an exit that already happened.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill("SIGTERM");
    rmSync(this.dir, { recursive: true, force: true });
  }
}
